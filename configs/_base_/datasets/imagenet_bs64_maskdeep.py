# MaskDeep's views on ImageNet-1k (Sec. 3.1, 3.4, Table 8): MoCo v2
# augmentations (mmpretrain `imagenet_bs32_mocov2.py`) for the two online
# views ('global': online and momentum branch) and for the N = 4 extra target
# views ('target': momentum branch only). `mcrop_train_pipeline` adds the
# multi-crop views of Table 8 ('local': online branch only).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

num_targets = 4  # N, extra target views (Table 6)
# The knob for the extra target views' resolution (see README, speed table):
# the momentum encoder pools its last stage, so any size works.
target_size = 224


def _mocov2_view(size, crop_ratio_range=(0.2, 1.)):
    return [
        dict(type='RandomResizedCrop', scale=size,
             crop_ratio_range=crop_ratio_range, backend='pillow'),
        dict(type='RandomApply',
             transforms=[dict(type='ColorJitter', brightness=0.4,
                              contrast=0.4, saturation=0.4, hue=0.1)],
             prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=0.5),
        dict(type='RandomFlip', prob=0.5),
    ]


online_view = _mocov2_view(224)
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiViewWithRoles',
         num_views=[2, num_targets],
         roles=['global', 'target'],
         transforms=[online_view, _mocov2_view(target_size)]),
    dict(type='PackInputs', meta_keys=('img_path', 'view_roles')),
]

# Table 8: two views each at 192, 160 and 128 px, multi-scale as HCSC: the
# crop keeps (0.2 s / 224, s / 224) of the image area.
local_sizes = [192, 160, 128]
mcrop_train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiViewWithRoles',
         num_views=[2] + [2] * len(local_sizes) + [num_targets],
         roles=['global'] + ['local'] * len(local_sizes) + ['target'],
         transforms=[online_view] + [
             _mocov2_view(s, (0.2 * s / 224, s / 224)) for s in local_sizes
         ] + [_mocov2_view(target_size)]),
    dict(type='PackInputs', meta_keys=('img_path', 'view_roles')),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    drop_last=True,
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
