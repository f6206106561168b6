#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: fine-tune an R50-C4 detector (Mask R-CNN on COCO,
# Faster R-CNN on VOC),
# with tools/slurm_train.sh.
#
# Usage: tools/benchmarks/mmdetection/slurm_train_c4.sh PARTITION CONFIG PRETRAIN_CKPT [train.py args]
# e.g.   GPUS=16 tools/benchmarks/mmdetection/slurm_train_c4.sh dev \
#            configs/benchmarks/mmdetection/mask-rcnn_r50-c4_8xb2-ms-2x_coco.py epoch_200.pth
#
# PRETRAIN_CKPT goes into the init_cfg of: model.backbone model.roi_head.shared_head.
# See launch_common.sh for the work dir, extra arguments and the environment.
source "$(dirname "$0")/../launch_common.sh"
benchmark_slurm "model.backbone model.roi_head.shared_head" "$@"
