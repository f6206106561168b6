# Mask R-CNN with a plain ViT-B/16 on COCO, 1x, ViTDet-style: the last block's
# stride-16 map becomes strides 4-32 (+ a pooled stride 64 for the RPN)
# through maskssl's SimpleFeaturePyramid, as EHM evaluates MIM encoders
# (Sec. IV-A, "following MAE"); AdamW, wd 0.05, lr steps at 8 / 11 epochs.
# EHM does not state layer-wise lr decay for detection, so none is used;
# attention is global in every block (ViTDet's windowed attention is not).
# Usage: tools/benchmarks/mmdetection/dist_train_fpn.sh THIS_CONFIG CKPT 8
_base_ = [
    '../../_base_/benchmarks/mask-rcnn_r50_fpn_ms_coco.py',
    'mmdet::_base_/schedules/schedule_1x.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=1024,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='mmpretrain.SimpleFeaturePyramid',
        in_channels=768,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        num_outs=5))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys=dict(pos_embed=dict(decay_mult=0.0),
                         cls_token=dict(decay_mult=0.0))))

# As ViTDet, no final norm (the pyramid has its own): the checkpoint's `ln1`
# is unused.
custom_hooks = [
    dict(type='mmpretrain.PretrainedCheckHook', allow_unexpected=['ln1.*'])
]
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
