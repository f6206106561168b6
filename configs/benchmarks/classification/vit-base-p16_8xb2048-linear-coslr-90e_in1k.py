# ViT-B/16 linear probe on ImageNet (MAE protocol, EHM Table VI): frozen
# backbone, last-block class token through a BatchNorm without affine, LARS
# lr 6.4 (0.1 x 16384 / 256), 90 epochs with 10 of warm-up, batch 16384.
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

# mmpretrain's base keeps the AdamW schedule's 1024; the lr is set for the
# actual total batch, 8 x 2048.
auto_scale_lr = dict(base_batch_size=16384)
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
