# MaskDeep's views (two 'global' views and N = 2 extra 'target' views) on the
# toy dataset at 48 px, batch 32. MoCo v2 augmentations, as in
# `imagenet_bs64_maskdeep.py`, with blur sigma scaled from 224 px by 48 / 224
# and crops that keep >= 30% of the image (at 48 px, 8% is mostly
# background).
dataset_type = 'CustomDataset'
data_root = 'data/toy/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

crop_size = 48
num_targets = 2
view_pipeline = [
    dict(type='RandomResizedCrop', scale=crop_size,
         crop_ratio_range=(0.3, 1.0), backend='pillow'),
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.4, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1 * 48 / 224, 2.0 * 48 / 224),
         magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiViewWithRoles', num_views=[2, num_targets],
         roles=['global', 'target'],
         transforms=[view_pipeline, view_pipeline]),
    dict(type='PackInputs', meta_keys=('img_path', 'view_roles')),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    drop_last=True,
    # False: workers are re-seeded every epoch (EpochSeedHook), which keeps
    # --resume exact.
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        ann_file='meta/train.txt',
        pipeline=train_pipeline))
