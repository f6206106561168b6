# Shared by the benchmark launchers in tools/benchmarks/*/ (sourced, not run).
#
# benchmark_dist KEYS CONFIG PRETRAIN_CKPT GPUS [train.py args]
# benchmark_slurm KEYS PARTITION CONFIG PRETRAIN_CKPT [train.py args]
#
# KEYS: the model keys whose init_cfg.checkpoint becomes PRETRAIN_CKPT (a raw
# pretraining checkpoint or an extracted backbone; the configs' init_cfg has
# prefix 'backbone.'). Work dir: work_dirs/benchmarks/<config stem>/<checkpoint
# stem>. Extra args go to tools/train.py after these; mmengine merges repeated
# --cfg-options, and the later value of a key (like a later --work-dir) wins.
# dist: NNODES, NODE_RANK, MASTER_ADDR and PORT come from the environment, as
# for tools/dist_train.sh; slurm: GPUS (default 8), GPUS_PER_NODE (8),
# CPUS_PER_TASK (5) and SRUN_ARGS, as for tools/slurm_train.sh, and the job is
# named after the config. MASKSSL_DRY_RUN=1 prints the command instead.
set -euo pipefail
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "$*" >&2; exit 1; }

# check_inputs CONFIG PRETRAIN: both exist and the path survives --cfg-options
check_inputs() {
    [[ -f $1 ]] || die "$0: config \"$1\" does not exist"
    [[ -f $2 || $2 =~ ^https?:// ]] ||
        die "$0: pretrained checkpoint \"$2\" does not exist"
    # --cfg-options splits values at commas and drops spaces, quotes, brackets
    [[ ! $2 =~ [][[:space:],\'\"\(\)] ]] ||
        die "$0: checkpoint path \"$2\" has a space, comma, quote or bracket," \
            "which --cfg-options would mangle; rename or link the file"
}

# ckpt_options KEYS PRETRAIN: one key.init_cfg.checkpoint=PRETRAIN per key
ckpt_options() {
    local key
    for key in $1; do printf '%s\n' "$key.init_cfg.checkpoint=$2"; done
}

work_dir() {
    echo "work_dirs/benchmarks/$(basename "${1%.py}")/$(basename "${2%.*}")"
}

run() {
    if [[ ${MASKSSL_DRY_RUN:-0} == 1 ]]; then
        printf '%q ' "$@"; echo
    else
        exec "$@"
    fi
}

benchmark_dist() {
    local keys=$1; shift
    (($# >= 3)) && [[ $3 =~ ^[1-9][0-9]*$ ]] ||
        die "Usage: $0 CONFIG PRETRAIN_CKPT GPUS [train.py args]"
    check_inputs "$1" "$2"
    local opts
    mapfile -t opts < <(ckpt_options "$keys" "$2")
    run "$TOOLS/dist_train.sh" "$1" "$3" --work-dir "$(work_dir "$1" "$2")" \
        --cfg-options "${opts[@]}" "${@:4}"
}

benchmark_slurm() {
    local keys=$1; shift
    (($# >= 3)) || die "Usage: $0 PARTITION CONFIG PRETRAIN_CKPT [train.py args]"
    check_inputs "$2" "$3"
    local opts
    mapfile -t opts < <(ckpt_options "$keys" "$3")
    run "$TOOLS/slurm_train.sh" "$1" "$(basename "${2%.py}")" "$2" \
        "$(work_dir "$2" "$3")" --cfg-options "${opts[@]}" "${@:4}"
}
