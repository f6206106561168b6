# MaskDeep on the toy dataset (`make demo`, tests): a half-width ResNet-18
# (base_channels 32: C3-C5 at 64/128/256 channels, not 128/256/512) at
# 48 px, P3-P5 at 64-d (P3 6x6, P4 3x3, P5 2x2: P4 and P5 fill their k slots
# with repeats, see maskssl.models.utils.point_sampling), K = 16 groups of
# k = 12 points, predictor 12 * 64 -> 512 -> 256, N = 2 extra targets,
# batch 32. SGD as the paper with Eq. 2's summed loss (K (N + 1) = 48 pairs
# per view): lr 0.005, weight decay 1e-5, 10 epochs (620 iterations). Width,
# size and N keep an iteration under 1 s on 2 CPU cores (ResNet-18 at 64 px
# with N = 4 took 3.9-5.0 s per iteration of 64 images, issue 9), so that
# `make demo` trains in about 11 minutes; the lr and the batch were chosen by
# kNN on a dev split of other toy scenes (README.md here, "The toy demo
# recipe").
_base_ = [
    '../_base_/models/maskdeep_resnet50.py',
    '../_base_/datasets/toy_bs32_maskdeep.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(depth=18, base_channels=32),
    neck=dict(in_channels=[64, 128, 256], out_channels=64),
    head=dict(predictor=dict(in_channels=12 * 64, hid_channels=512,
                             out_channels=256)))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.005, momentum=0.9, weight_decay=1e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=9, by_epoch=True, begin=1, end=10,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=32)
# kNN on the toy split (tools/benchmarks/knn_eval.py, make demo)
knn = dict(k=[20], temperature=0.07, img_size=48)
