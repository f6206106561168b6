#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: fine-tune an FPN detector (Mask R-CNN
# R50-FPN, ViT-B simple FPN, Swin-T FPN on COCO),
# with tools/dist_train.sh.
#
# Usage: tools/benchmarks/mmdetection/dist_train_fpn.sh CONFIG PRETRAIN_CKPT GPUS [train.py args]
# e.g.   tools/benchmarks/mmdetection/dist_train_fpn.sh \
#            configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_8xb2-ms-1x_coco.py epoch_200.pth 8
#
# PRETRAIN_CKPT goes into the init_cfg of: model.backbone.
# See launch_common.sh for the work dir, extra arguments and the environment.
source "$(dirname "$0")/../launch_common.sh"
benchmark_dist "model.backbone" "$@"
