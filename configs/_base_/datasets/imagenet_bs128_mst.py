# MST's multi-crop views on ImageNet-1k (MST Sec. 3.1, App. B; DINO's
# augmentations, which are BYOL's plus multi-crop): two 224-px global crops
# (scale 0.4-1; 'global': teacher and student) and `num_local` 96-px local
# crops (scale 0.05-0.4; 'local': student only). BYOL's asymmetric blur and
# solarisation: global view 1 always blurred, global view 2 blurred with
# p=0.1 and solarised with p=0.2, local views blurred with p=0.5. MST does not
# give the number of local crops: DINO's ViT-S/16 default, 8 (mmpretrain's
# projects/dino uses 8 too).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

num_local = 8
global_size, local_size = 224, 96


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
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
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
             _dino_view(local_size, (0.05, 0.4), 0.5),
         ]),
    dict(type='PackInputs', meta_keys=('img_path', 'view_roles')),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=10,
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
