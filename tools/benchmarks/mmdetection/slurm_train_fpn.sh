#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: fine-tune an R50-FPN Mask R-CNN on
# COCO, with tools/slurm_train.sh.
#
# Usage: tools/benchmarks/mmdetection/slurm_train_fpn.sh PARTITION CONFIG PRETRAIN_CKPT [train.py args]
# e.g.   GPUS=16 tools/benchmarks/mmdetection/slurm_train_fpn.sh dev \
#            configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_8xb2-ms-1x_coco.py epoch_200.pth
#
# The backbone loads PRETRAIN_CKPT, a raw pretraining checkpoint (the configs'
# init_cfg has prefix 'backbone.').
# Work dir: work_dirs/benchmarks/<config stem>/<checkpoint stem>. Extra args go
# to tools/train.py after these; mmengine merges repeated --cfg-options, and
# the later value of a key (like a later --work-dir) wins.
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5) and SRUN_ARGS come from
# the environment, as for tools/slurm_train.sh; the job is named after the config.
# MASKSSL_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
die() { echo "$*" >&2; exit 1; }
usage="Usage: $0 PARTITION CONFIG PRETRAIN_CKPT [train.py args]"
(($# >= 3)) || die "$usage"
PARTITION=$1
CONFIG=$2
PRETRAIN=$3
[[ -f $CONFIG ]] || die "$0: config \"$CONFIG\" does not exist"
[[ -f $PRETRAIN || $PRETRAIN =~ ^https?:// ]] ||
    die "$0: pretrained checkpoint \"$PRETRAIN\" does not exist"
# --cfg-options splits values at commas and drops spaces, quotes and brackets
[[ ! $PRETRAIN =~ [][[:space:],\'\"\(\)] ]] ||
    die "$0: checkpoint path \"$PRETRAIN\" has a space, comma, quote or bracket," \
        "which --cfg-options would mangle; rename or link the file"
WORK_DIR=work_dirs/benchmarks/$(basename "${CONFIG%.py}")/$(basename "${PRETRAIN%.*}")
CMD=("$(dirname "$0")/../../slurm_train.sh" "$PARTITION" "$(basename "${CONFIG%.py}")"
     "$CONFIG" "$WORK_DIR"
     --cfg-options "model.backbone.init_cfg.checkpoint=$PRETRAIN" "${@:4}")
if [[ ${MASKSSL_DRY_RUN:-0} == 1 ]]; then
    printf '%q ' "${CMD[@]}"; echo
else
    exec "${CMD[@]}"
fi
