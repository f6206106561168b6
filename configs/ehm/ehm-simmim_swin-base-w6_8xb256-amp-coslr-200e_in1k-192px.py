# EHM's SimMIM, Swin-B (window 6) at 192 px, 200 epochs on ImageNet-1k at
# batch 2048 (8 GPUs x 256): EHM Table VIII's SimMIM row ("pre-trained using
# the official code for 200 epochs") on mmpretrain's SimMIM recipe
# (configs/simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py),
# its 100-epoch schedule stretched to 200 (10 warm-up epochs, then cosine).
# Everything but the mask is SimMIM's: the [MASK] embedding in place of the
# masked patch embeddings, the 1x1-conv + pixel-shuffle decoder (stride 32)
# and the L1 loss on the masked pixels.
#
# The mask: Evolved Hierarchical Masking at SimMIM's ratio 0.6 (EHM Sec.
# V-B keeps each model's ratio) on SimMIM's 6 x 6 grid of 32-px mask patches
# (a tree over the 48 x 48 4-px tokens would cost too much), spread to the
# tokens as SimMIM's mask generator does, so the pipeline has no
# SimMIMMaskGenerator. Its guidance (EHM is silent for Swin, whose blocks
# attend only within windows): the cosine similarity of the mask patches'
# features after the first 6 Swin blocks (stages 1-3, 12 x 12 x 512,
# average-pooled to 6 x 6), from a no-grad pass of the shared patch
# embedding (TokenMaskSimMIMSwin).
#
# As mmpretrain's recipe: drop path 0.1 (SimMIMSwinTransformer's default;
# the official SimMIM-Swin-B config uses 0), AdamW (0.9, 0.999), lr 2e-4 x
# 2048 / 512, wd 0.05 (none on norms, biases, position tables and, as the
# official code, the mask token), gradient norm clipped at 5, AMP.
_base_ = ['../_base_/default_runtime.py']

# data: SimMIM's views (mmpretrain configs/_base_/datasets/
# imagenet_bs256_simmim_192.py) without the mask generator. maskssl's
# CheckedLoadImageFromFile names a file it cannot read; the workers are
# re-seeded every epoch (EpochSeedHook) instead of persisting, which keeps
# --resume exact.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=192, crop_ratio_range=(0.67, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs')
]

train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))

# model
model = dict(
    type='EHMSimMIM',
    backbone=dict(
        type='TokenMaskSimMIMSwin',
        arch='base',
        img_size=192,
        stage_cfgs=dict(block_cfgs=dict(window_size=6)),
        mask_patch_size=32),
    neck=dict(
        type='SimMIMLinearDecoder', in_channels=128 * 2**3, encoder_stride=32),
    head=dict(
        type='SimMIMHead',
        patch_size=4,
        loss=dict(type='PixelReconstructionLoss', criterion='L1', channel=3)),
    masker=dict(type='EvolvedHierarchicalMasker', mask_ratio=0.6),
    attention_layers=6,
    attention_source='online')

# optimizer wrapper
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=2e-4 * 2048 / 512,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.)
        }))

# learning rate scheduler: 10 linear warm-up epochs from 1e-6 x 2048 / 512,
# then cosine to 1e-5 x 2048 / 512 (mmpretrain's SimMIM-Swin recipe)
max_epochs = 200
warmup_epochs = 10
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 2e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-5 * 2048 / 512,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]

# runtime
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# keeps the latest 3 checkpoints (SafeCheckpointHook, default_runtime.py)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))

# NOTE: `auto_scale_lr` is for automatically scaling LR
# based on the actual training batch size.
auto_scale_lr = dict(base_batch_size=2048)
