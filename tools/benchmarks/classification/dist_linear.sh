#!/usr/bin/env bash
# Benchmark a self-supervised checkpoint: train a linear classifier on the frozen
# backbone, or fine-tune it (ImageNet),
# with tools/dist_train.sh.
#
# Usage: tools/benchmarks/classification/dist_linear.sh CONFIG PRETRAIN_CKPT GPUS [train.py args]
# e.g.   tools/benchmarks/classification/dist_linear.sh \
#            configs/benchmarks/classification/resnet50_8xb32-linear-steplr-100e_in1k.py epoch_200.pth 8
#
# PRETRAIN_CKPT goes into the init_cfg of: model.backbone.
# See launch_common.sh for the work dir, extra arguments and the environment.
source "$(dirname "$0")/../launch_common.sh"
benchmark_dist "model.backbone" "$@"
