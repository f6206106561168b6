#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: fine-tune a segmenter (UperNet on ADE20K,
# SETR on Cityscapes),
# with tools/slurm_train.sh.
#
# Usage: tools/benchmarks/mmsegmentation/slurm_train.sh PARTITION CONFIG PRETRAIN_CKPT [train.py args]
# e.g.   GPUS=16 tools/benchmarks/mmsegmentation/slurm_train.sh dev \
#            configs/benchmarks/mmsegmentation/upernet_r50_4xb4-160k_ade20k-512x512.py epoch_200.pth
#
# PRETRAIN_CKPT goes into the init_cfg of: model.backbone.
# See launch_common.sh for the work dir, extra arguments and the environment.
source "$(dirname "$0")/../launch_common.sh"
benchmark_slurm "model.backbone" "$@"
