# MAE's pre-training views (ehm_imagenet_bs512_mae.py) on the toy dataset
# (tools/dataset_converters/make_toy_dataset.py, 64-96 px scenes): a 32-px
# random resized crop of scale 0.2-1 (bicubic) and a horizontal flip, batch
# 32.
dataset_type = 'CustomDataset'
data_root = 'data/toy/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs')
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
