# MST's multi-crop views (`imagenet_bs128_mst.py`) on the toy dataset:
# two 48-px global crops (scale 0.4-1, 'global') and 4 local 24-px crops
# (scale 0.1-0.4, 'local'; 5% of a toy image is mostly background), DINO's
# augmentations with the blur sigma scaled by 48 / 224, batch 32.
dataset_type = 'CustomDataset'
data_root = 'data/toy/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

num_local = 4
global_size, local_size = 48, 24


def _dino_view(size, crop_ratio_range, blur_prob, solarize_prob=0.):
    view = [
        dict(type='RandomResizedCrop', scale=size,
             crop_ratio_range=crop_ratio_range, interpolation='bicubic',
             backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply',
             transforms=[dict(type='ColorJitter', brightness=0.4,
                              contrast=0.4, saturation=0.2, hue=0.1)],
             prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur',
             magnitude_range=(0.1 * 48 / 224, 2.0 * 48 / 224),
             magnitude_std='inf', prob=blur_prob),
    ]
    if solarize_prob:
        view.append(dict(type='Solarize', thr=128, prob=solarize_prob))
    return view


train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiViewWithRoles',
         num_views=[1, 1, num_local],
         roles=['global', 'global', 'local'],
         transforms=[
             _dino_view(global_size, (0.4, 1.), 1.0),
             _dino_view(global_size, (0.4, 1.), 0.1, 0.2),
             _dino_view(local_size, (0.1, 0.4), 0.5),
         ]),
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
