# MaskDeep on the toy dataset (`make demo`, tests): ResNet-18 at 64 px, P3-P5
# at 128-d (P3 8x8, P4 4x4, P5 2x2: P5 fills its k slots with repeats, see
# maskssl.models.utils.point_sampling), K = 16 groups of k = 12 points,
# predictor 12 * 128 -> 1024 -> 512, N = 4 extra targets. SGD as the paper,
# with Eq. 2's summed loss (K (N + 1) = 80 pairs per view): lr 0.1 / 80 and
# weight decay 1e-5 * 80 give the same SGD trajectory as lr 0.1, wd 1e-5 on the
# averaged loss (reduction='mean'), which the 10-epoch schedule at batch 64 was
# tuned with.
_base_ = [
    '../_base_/models/maskdeep_resnet50.py',
    '../_base_/datasets/toy_bs64_maskdeep.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[128, 256, 512], out_channels=128),
    head=dict(predictor=dict(in_channels=12 * 128, hid_channels=1024,
                             out_channels=512)))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1 / 80, momentum=0.9,
                   weight_decay=1e-5 * 80))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=9, by_epoch=True, begin=1, end=10,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=64)
