#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: train a linear classifier on the frozen
# backbone, or fine-tune it (ImageNet),
# with tools/slurm_train.sh.
#
# Usage: tools/benchmarks/classification/slurm_linear.sh PARTITION CONFIG PRETRAIN_CKPT [train.py args]
# e.g.   GPUS=16 tools/benchmarks/classification/slurm_linear.sh dev \
#            configs/benchmarks/classification/resnet50_8xb32-linear-steplr-100e_in1k.py epoch_200.pth
#
# PRETRAIN_CKPT goes into the init_cfg of: model.backbone.
# See launch_common.sh for the work dir, extra arguments and the environment.
source "$(dirname "$0")/../launch_common.sh"
benchmark_slurm "model.backbone" "$@"
