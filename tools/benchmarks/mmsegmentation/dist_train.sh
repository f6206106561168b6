#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: fine-tune a segmenter (UperNet on ADE20K,
# SETR on Cityscapes),
# with tools/dist_train.sh.
#
# Usage: tools/benchmarks/mmsegmentation/dist_train.sh CONFIG PRETRAIN_CKPT GPUS [train.py args]
# e.g.   tools/benchmarks/mmsegmentation/dist_train.sh \
#            configs/benchmarks/mmsegmentation/upernet_r50_4xb4-160k_ade20k-512x512.py epoch_200.pth 8
#
# PRETRAIN_CKPT goes into the init_cfg of: model.backbone.
# See launch_common.sh for the work dir, extra arguments and the environment.
source "$(dirname "$0")/../launch_common.sh"
benchmark_dist "model.backbone" "$@"
