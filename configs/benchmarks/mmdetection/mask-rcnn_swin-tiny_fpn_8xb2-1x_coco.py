# Mask R-CNN Swin-T FPN on COCO, 1x (12 epochs), short side 800 / long side
# <= 1333, AdamW lr 1e-4, wd 0.05: mmdet's Swin-T recipe, as MST Table 2
# ("all hyper-parameters follow the original paper"). The backbone is
# mmpretrain's SwinTransformer, the class maskssl pretrains, so the
# checkpoint's `backbone.*` keys load as they are.
# Usage: tools/benchmarks/mmdetection/dist_train_fpn.sh THIS_CONFIG CKPT 8
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='tiny',
        img_size=224,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        # pad maps smaller than a window (extreme aspect ratios), as mmdet's
        # Swin does, instead of failing
        pad_small_map=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))

# A pretrained Swin has the norm of its last stage only; the norms of the
# stages 1-3 outputs that feed the FPN start fresh (as mmdet's Swin does).
# MST's Swin (MSTSwinTransformer) also saves its [MASK] embedding, which
# the detector does not take.
custom_hooks = [
    dict(type='mmpretrain.PretrainedCheckHook',
         allow_missing=['backbone.norm0.*', 'backbone.norm1.*',
                        'backbone.norm2.*'],
         allow_unexpected=['mask_token'])
]
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
