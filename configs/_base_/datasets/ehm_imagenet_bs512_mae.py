# MAE's pre-training data (mmpretrain configs/_base_/datasets/
# imagenet_bs512_mae.py), used by EHM's MAE (EHM Sec. V-B: "optimization
# settings follow the corresponding works"): ImageNet-1k train, a 224-px
# random resized crop of scale 0.2-1 (bicubic) and a horizontal flip, batch
# 512 per GPU, the last incomplete batch dropped. Everything else (the
# preprocessor, CheckedLoadImageFromFile, workers re-seeded every epoch
# instead of persisting) is the ImageNet loader of
# ehm_imagenet_bs256_simmim.py.
_base_ = './ehm_imagenet_bs256_simmim.py'

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
    batch_size=512, drop_last=True, dataset=dict(pipeline=train_pipeline))
