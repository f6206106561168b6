# Mask R-CNN R50-C4 for transfer from an SSL ResNet-50 (MoCo / DetCo / SoCo
# protocol): RGB ImageNet normalisation, pytorch-style ResNet, SyncBN trained
# in the backbone and the shared head, nothing frozen, and the shared head
# becomes mmpretrain's ResLayerExtraNorm (extra norm after layer4). Both the
# backbone (stages 1-3) and the shared head (its module is named `layer4`)
# load the same checkpoint under prefix 'backbone.'; set both checkpoints
# (tools/benchmarks/mmdetection/dist_train_c4.sh does).
# ResLayerExtraNorm is registered into mmdet by `custom_imports=['maskssl']`
# (maskssl imports mmpretrain.models).
_base_ = 'mmdet::_base_/models/mask-rcnn_r50-caffe-c4.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
ssl_init = dict(type='Pretrained', checkpoint='', prefix='backbone.')
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=ssl_init),
    roi_head=dict(
        shared_head=dict(
            type='ResLayerExtraNorm',
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            init_cfg=ssl_init)))
# The C4 configs' weight check: the extra norm after the shared layer4 starts
# fresh (as in the protocol); everything else comes from the checkpoint.
c4_pretrained_check = dict(type='mmpretrain.PretrainedCheckHook',
                           allow_missing=['roi_head.shared_head.norm.*'])
