# ImageNet-100 (tools/dataset_converters/make_imagenet100.py) with
# mmpretrain's SimCLR views (imagenet_bs32_simclr.py), batch 64 per GPU:
# view 0 the query (masked), view 1 the key.
_base_ = ['./imagenet100_bs32_mocov2.py']

view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8,
                          saturation=0.8, hue=0.2)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf',
         prob=0.5),
]

train_dataloader = dict(
    batch_size=64,
    dataset=dict(pipeline=[
        dict(type='CheckedLoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
        dict(type='PackInputs'),
    ]))
