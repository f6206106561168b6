# UperNet ViT-B/16 on ADE20K, 160k iterations at 512x512, batch 16: the MAE
# protocol (EHM Tables VI / VIII): features of blocks 4, 6, 8 and 12 rescaled
# x4, x2, x1, x0.5, AdamW lr 1e-4, wd 0.05, layer-wise lr decay 0.65, fp16.
# The backbone is mmpretrain's VisionTransformer, the class maskssl
# pretrains; its position embedding is resized from 224 to 512 on load.
# Usage: tools/benchmarks/mmsegmentation/dist_train.sh THIS_CONFIG CKPT 8
_base_ = [
    'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=512,
        patch_size=16,
        drop_path_rate=0.1,
        out_indices=(3, 5, 7, 11),
        out_type='featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))

# mmseg's LayerDecayOptimizerConstructor only knows its own MAE / BEiT
# classes; this one takes the depth from the mmpretrain backbone.
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    constructor='mmpretrain.BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }))

# `--auto-scale-lr` scales the lr from this total batch.
auto_scale_lr = dict(enable=False, base_batch_size=16)

# As mmseg's MAE backbone, no final norm: the checkpoint's `ln1` is unused.
custom_hooks = [
    dict(type='mmpretrain.PretrainedCheckHook', allow_unexpected=['ln1.*'])
]
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
