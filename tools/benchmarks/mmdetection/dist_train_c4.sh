#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: fine-tune an R50-C4 detector (Mask R-CNN on COCO,
# Faster R-CNN on VOC),
# with tools/dist_train.sh.
#
# Usage: tools/benchmarks/mmdetection/dist_train_c4.sh CONFIG PRETRAIN_CKPT GPUS [train.py args]
# e.g.   tools/benchmarks/mmdetection/dist_train_c4.sh \
#            configs/benchmarks/mmdetection/mask-rcnn_r50-c4_8xb2-ms-2x_coco.py epoch_200.pth 8
#
# PRETRAIN_CKPT goes into the init_cfg of: model.backbone model.roi_head.shared_head.
# See launch_common.sh for the work dir, extra arguments and the environment.
source "$(dirname "$0")/../launch_common.sh"
benchmark_dist "model.backbone model.roi_head.shared_head" "$@"
