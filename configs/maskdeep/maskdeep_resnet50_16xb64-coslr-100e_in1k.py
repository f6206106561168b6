# MaskDeep, ResNet-50, 100 epochs at batch 1024 (16 x 64): Table 1, row
# "MaskDeep 100" (69.6 top-1 linear).
_base_ = [
    '../_base_/models/maskdeep_resnet50.py',
    '../_base_/datasets/imagenet_bs64_maskdeep.py',
    '../_base_/schedules/imagenet_sgd_coslr-100e_maskdeep.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(interval=10, max_keep_ckpts=3))
