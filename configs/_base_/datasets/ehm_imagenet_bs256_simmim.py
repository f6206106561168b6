# SimMIM's pre-training views without its mask generator (EHM's models make
# their own mask), used by EHM's SimMIM: ImageNet-1k train, a 224-px random
# resized crop of scale 0.67-1 and a horizontal flip (official SimMIM; the
# Swin config crops 192 px, as mmpretrain's configs/_base_/datasets/
# imagenet_bs256_simmim_192.py), batch 256 per GPU. Its loader is also the
# one of EHM's MAE and BEiT data (ehm_imagenet_bs512_mae.py,
# ehm_imagenet_bs256_beitv1.py). maskssl's CheckedLoadImageFromFile names a
# file it cannot read.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.67, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs')
]

train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    # False: workers are re-seeded every epoch (EpochSeedHook), which keeps
    # --resume exact.
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
