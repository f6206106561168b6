# BYOL's two asymmetric views (mmpretrain `imagenet_bs32_byol.py`) on the toy
# dataset at 64 px; blur sigma is scaled from 224 px by 64 / 224, and crops
# keep at least 30% of the image (at 64 px, 8% is mostly background).
dataset_type = 'CustomDataset'
data_root = 'data/toy/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

crop_size = 64


def _view(blur_prob, solarize_prob):
    return [
        dict(type='RandomResizedCrop', scale=crop_size,
             crop_ratio_range=(0.3, 1.0), interpolation='bicubic',
             backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply',
             transforms=[dict(type='ColorJitter', brightness=0.4,
                              contrast=0.4, saturation=0.2, hue=0.1)],
             prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.03, 0.57),
             magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[_view(1.0, 0.0), _view(0.1, 0.2)]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    # False: dataloader workers are re-seeded every epoch (EpochSeedHook),
    # which keeps --resume exact.
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        ann_file='meta/train.txt',
        pipeline=train_pipeline))
