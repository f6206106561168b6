# ResNet-50 linear probe on ImageNet (MoCo protocol, MaskDeep Table 1 and the
# saliency paper): frozen backbone, SGD lr 30, momentum 0.9, no weight decay,
# 100 epochs, lr x0.1 at 60 and 80, batch 256.
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = [
    'mmpretrain::mocov2/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

# `--auto-scale-lr` scales the lr from this total batch (8 x 32).
auto_scale_lr = dict(base_batch_size=256)
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
