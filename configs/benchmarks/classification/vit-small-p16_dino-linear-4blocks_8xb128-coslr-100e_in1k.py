# DeiT-S/16 linear probe on ImageNet with DINO's protocol (MST Tables 1 / 8,
# "†"): the class tokens of the last 4 blocks, each through the final norm,
# concatenated (4 x 384 = 1536-d); SGD momentum 0.9, no weight decay, lr
# 0.001 x 1024 / 256, cosine to 0 over 100 epochs, batch 1024, random
# resized crops and flips.
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='NormedBlocksViT',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_indices=(8, 9, 10, 11),
        out_type='cls_token',
        frozen_stages=12,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(type='ConcatNeck'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=4 * 384,
        loss=dict(type='CrossEntropyLoss'),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01)))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.001 * 1024 / 256, momentum=0.9,
                   weight_decay=0.0))
param_scheduler = dict(type='CosineAnnealingLR', T_max=100, by_epoch=True,
                       begin=0, end=100, eta_min=0.0)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
default_hooks = dict(
    checkpoint=dict(type='mmpretrain.SafeCheckpointHook', interval=10,
                    max_keep_ckpts=3))
# a masked-image pretraining's [MASK] embedding (MST) has no use here
custom_hooks = [
    dict(type='mmpretrain.PretrainedCheckHook', allow_unexpected=['mask_token'])
]
