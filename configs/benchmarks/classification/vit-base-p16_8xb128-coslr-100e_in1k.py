# ViT-B/16 fine-tuning on ImageNet (MAE protocol, EHM Tables VI / VIII): 100
# epochs, AdamW, layer-wise lr decay 0.65, drop path 0.1, RandAugment, mixup
# and cutmix, global-average-pooled tokens. The fine-tuned model has no final
# norm but a norm after pooling, so the checkpoint's `ln1` is not taken and
# `ln2` starts fresh (as mmpretrain's MAE fine-tuning does).
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

custom_hooks = [
    dict(type='mmpretrain.PretrainedCheckHook',
         allow_missing=['backbone.ln2.*'],
         allow_unexpected=['ln1.*'])
]
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
