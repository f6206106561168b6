# SETR-Naive with a DeiT-S/16 on Cityscapes, 40k iterations at 768x768,
# batch 8: MST Table 3 ("we follow the training config as original SETR").
# SETR taps 4 of ViT-L's 24 blocks (10, 15, 20, 24); a 12-block DeiT-S is
# tapped at blocks 4, 6, 8 and 12, the last feeding the decode head and the
# others the auxiliary heads. The backbone is mmpretrain's VisionTransformer,
# the class maskssl pretrains; its position embedding is resized on load.
# Usage: tools/benchmarks/mmsegmentation/dist_train.sh THIS_CONFIG CKPT 8
_base_ = [
    'mmseg::setr/setr_vit-l_naive_8xb1-80k_cityscapes-768x768.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',
        img_size=768,
        patch_size=16,
        drop_path_rate=0.1,
        out_indices=(3, 5, 7, 11),
        out_type='featmap',
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    decode_head=dict(in_channels=384),
    auxiliary_head=[
        dict(type='SETRUPHead', in_channels=384, channels=256, in_index=i,
             num_classes=19, dropout_ratio=0, norm_cfg=dict(type='SyncBN', requires_grad=True),
             num_convs=1, up_scale=4, kernel_size=1, align_corners=False,
             loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                              loss_weight=0.4)) for i in range(3)
    ])

max_iters = 40000
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]

# `--auto-scale-lr` scales the lr from this total batch.
auto_scale_lr = dict(enable=False, base_batch_size=8)
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
# a masked-image pretraining's [MASK] embedding (MST) has no use here
custom_hooks = [
    dict(type='mmpretrain.PretrainedCheckHook', allow_unexpected=['mask_token'])
]
