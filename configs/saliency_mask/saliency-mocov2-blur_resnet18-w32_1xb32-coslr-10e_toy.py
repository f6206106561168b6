# Saliency-guided masking (strong blur) in MoCo v2 on the toy dataset: a
# half-width ResNet-18 (base_channels 32) at 64 px, saliency from the
# momentum encoder (no second network, nothing downloaded), batch 32,
# 10 epochs. At 64 px the stride-32 grid has 2 x 2 cells, so the positive
# ratio is raised to U(0.25, 0.5) (one or two cells: the paper's
# U(0.05, 0.25) of 4 cells masks none) and the blur kernel scales with the
# input (31 px, sigma 10 at 224 px -> 9 px, sigma 2.9). Not tuned.
_base_ = [
    '../_base_/models/saliency-mocov2_resnet50.py',
    '../_base_/datasets/imagenet100_bs32_mocov2.py',
    '../_base_/default_runtime.py',
]

crop_size = 64
view_pipeline = [
    dict(type='RandomResizedCrop', scale=crop_size,
         crop_ratio_range=(0.3, 1.0), backend='pillow'),
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.4, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1 * 64 / 224, 2.0 * 64 / 224),
         magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root='data/toy/',
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
            dict(type='PackInputs'),
        ]))

model = dict(
    queue_len=4096,
    feat_dim=64,
    backbone=dict(depth=18, base_channels=32),
    neck=dict(in_channels=256, hid_channels=256, out_channels=64),
    saliency=dict(_delete_=True, type='SCDASaliency', source='momentum'),
    fill=dict(type='BlurFill', kernel_size=9, sigma=2.9,
              masker=dict(type='SaliencyCellMasker', alpha=(0.25, 0.5))))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, weight_decay=1e-4, momentum=0.9))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=10, by_epoch=True, begin=0, end=10)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=32)
# kNN on the toy split (tools/benchmarks/knn_eval.py, tools/demo.py)
knn = dict(k=[20], temperature=0.07, img_size=64)
