# MAE's pre-training data (mmpretrain configs/_base_/datasets/
# imagenet_bs512_mae.py), used by EHM's MAE (EHM Sec. V-B: "optimization
# settings follow the corresponding works"): ImageNet-1k train, a 224-px
# random resized crop of scale 0.2-1 (bicubic) and a horizontal flip, batch
# 512 per GPU. maskssl's CheckedLoadImageFromFile names the file it cannot
# read; the workers are re-seeded every epoch (EpochSeedHook) instead of
# persisting, which keeps --resume exact.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs')
]

train_dataloader = dict(
    batch_size=512,
    num_workers=8,
    drop_last=True,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
