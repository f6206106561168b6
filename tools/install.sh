#!/usr/bin/env bash
# One-command CPU environment for maskssl (called by `make install`).
#
# Creates .venv/, installs torch, builds mmcv 2.1.0 with CPU ops from its PyPI sdist
# (cached as a wheel under $MASKSSL_CACHE, never rebuilt once installed), then the
# OpenMMLab stack and maskssl in editable mode. Idempotent: a second run on the same
# machine only checks a stamp and returns.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
CACHE="${MASKSSL_CACHE:-$HOME/.cache/maskssl}"
WHEELS="$CACHE/wheels"
MMCV_VERSION=2.1.0
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -c "$ROOT/requirements/constraints.txt")
STAMP="$VENV/.maskssl-install-stamp"

log() { printf '[install] %s\n' "$*"; }

stamp_value() {
    cat "$ROOT/setup.py" "$ROOT"/requirements/*.txt "$ROOT/tools/install.sh" | sha256sum | cut -d' ' -f1
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]] \
        && "$PY" -c "import mmcv.ops, mmpretrain, mmdet, mmseg, maskssl" 2>/dev/null; then
    log "environment up to date ($VENV)"
    exit 0
fi

if [[ ! -x "$PY" ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi

log "torch + build tools"
"${PIP[@]}" torch==2.14.1 torchvision==0.29.1

mmcv_ok() {
    "$PY" - <<PYEOF 2>/dev/null
import mmcv, mmcv.ops
assert mmcv.__version__ == '$MMCV_VERSION'
PYEOF
}

if mmcv_ok; then
    log "mmcv $MMCV_VERSION with ops already installed"
else
    mkdir -p "$WHEELS"
    wheel=$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)
    if [[ -z "$wheel" ]]; then
        log "building mmcv $MMCV_VERSION with CPU ops (about 30 min on 2 cores)"
        # --no-deps: torch requires setuptools>=77, so pip's resolver would
        # print an ERROR about the (intended, temporary) setuptools<70.
        "$PY" -m pip install --disable-pip-version-check --no-deps \
            -r "$ROOT/requirements/build.txt"
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        # MMCV_WITH_OPS=1 here too: pip runs mmcv's setup.py to read the
        # sdist's metadata, and that names the package mmcv-lite when the
        # caller's environment has MMCV_WITH_OPS=0; pip then prints "No
        # matching distribution found for mmcv==2.1.0".
        MMCV_WITH_OPS=1 FORCE_CUDA=0 "$PY" -m pip download \
            --disable-pip-version-check --no-deps --no-binary mmcv \
            --no-build-isolation -d "$tmp" "mmcv==$MMCV_VERSION"
        tar -xzf "$tmp"/mmcv-"$MMCV_VERSION".tar.gz -C "$tmp"
        src="$tmp/mmcv-$MMCV_VERSION"
        # torch 2.14 headers need C++20; mmcv's setup.py hard-codes c++14/c++17.
        sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "$PY" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation \
            -w "$tmp/dist" "$src"
        built=$(ls "$tmp"/dist/mmcv-*.whl)
        cp "$built" "$WHEELS/.partial.whl"
        mv "$WHEELS/.partial.whl" "$WHEELS/$(basename "$built")"
        wheel="$WHEELS/$(basename "$built")"
        "${PIP[@]}" 'setuptools>=77.0.3'
    fi
    log "installing $wheel"
    "${PIP[@]}" --no-deps "$wheel"
    "${PIP[@]}" addict mmengine==0.10.7 packaging Pillow pyyaml yapf
    mmcv_ok || { echo "mmcv $MMCV_VERSION installed but mmcv.ops does not import" >&2; exit 1; }
fi

log "OpenMMLab stack, test tools and maskssl (editable)"
"${PIP[@]}" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"
"$PY" -c "import mmcv.ops, mmpretrain, mmdet, mmseg, maskssl; print('maskssl', maskssl.__version__)"
stamp_value > "$STAMP"
log "done"
