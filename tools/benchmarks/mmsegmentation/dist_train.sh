#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: fine-tune an R50 UperNet on ADE20K, with tools/dist_train.sh.
#
# Usage: tools/benchmarks/mmsegmentation/dist_train.sh CONFIG PRETRAIN_CKPT GPUS [train.py args]
# e.g.   tools/benchmarks/mmsegmentation/dist_train.sh \
#            configs/benchmarks/mmsegmentation/upernet_r50_4xb4-160k_ade20k-512x512.py epoch_200.pth 8
#
# The backbone loads PRETRAIN_CKPT, a raw pretraining checkpoint (the configs'
# init_cfg has prefix 'backbone.').
# Work dir: work_dirs/benchmarks/<config stem>/<checkpoint stem>. Extra args go
# to tools/train.py after these; mmengine merges repeated --cfg-options, and
# the later value of a key (like a later --work-dir) wins.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT come from the environment,
# as for tools/dist_train.sh.
# MASKSSL_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
die() { echo "$*" >&2; exit 1; }
usage="Usage: $0 CONFIG PRETRAIN_CKPT GPUS [train.py args]"
(($# >= 3)) && [[ $3 =~ ^[1-9][0-9]*$ ]] || die "$usage"
CONFIG=$1
PRETRAIN=$2
GPUS=$3
[[ -f $CONFIG ]] || die "$0: config \"$CONFIG\" does not exist"
[[ -f $PRETRAIN || $PRETRAIN =~ ^https?:// ]] ||
    die "$0: pretrained checkpoint \"$PRETRAIN\" does not exist"
# --cfg-options splits values at commas and drops spaces, quotes and brackets
[[ ! $PRETRAIN =~ [][[:space:],\'\"\(\)] ]] ||
    die "$0: checkpoint path \"$PRETRAIN\" has a space, comma, quote or bracket," \
        "which --cfg-options would mangle; rename or link the file"
WORK_DIR=work_dirs/benchmarks/$(basename "${CONFIG%.py}")/$(basename "${PRETRAIN%.*}")
CMD=("$(dirname "$0")/../../dist_train.sh" "$CONFIG" "$GPUS" --work-dir "$WORK_DIR"
     --cfg-options "model.backbone.init_cfg.checkpoint=$PRETRAIN" "${@:4}")
if [[ ${MASKSSL_DRY_RUN:-0} == 1 ]]; then
    printf '%q ' "${CMD[@]}"; echo
else
    exec "${CMD[@]}"
fi
