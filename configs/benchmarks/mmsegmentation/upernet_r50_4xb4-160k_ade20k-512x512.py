# UperNet R50 on ADE20K, 160k iterations at 512x512, batch 16, from a maskssl
# ResNet-50. mmseg's base uses ResNetV1c (deep stem `stem.*`) and loads
# `open-mmlab://resnet50_v1c` through `model.pretrained`; an SSL ResNet-50 has
# the plain `conv1` / `bn1` stem, so the backbone is `ResNet` and
# `model.pretrained` is None (else the stem would silently stay random).
# Usage: tools/benchmarks/mmsegmentation/dist_train.sh THIS_CONFIG CKPT 4
_base_ = [
    'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))

# `--auto-scale-lr` scales the lr from this total batch.
auto_scale_lr = dict(enable=False, base_batch_size=16)
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
