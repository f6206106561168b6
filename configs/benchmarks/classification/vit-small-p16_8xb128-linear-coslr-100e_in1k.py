# DeiT-S/16 linear probe on ImageNet, the common protocol of MST's ablations
# (App. E, Tables 4-6): the last block's class token (after the final norm),
# a linear classifier on frozen features, SGD without weight decay, batch
# 1024, 100 epochs, random resized crops and flips. The lr is DINO's,
# 0.001 x 1024 / 256 cosine to 0, as in the 4-block config; MST App. E
# states 0.00024 (`--cfg-options optim_wrapper.optimizer.lr=0.00024`).
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = './vit-small-p16_dino-linear-4blocks_8xb128-coslr-100e_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        frozen_stages=12,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=None,
    head=dict(in_channels=384))
