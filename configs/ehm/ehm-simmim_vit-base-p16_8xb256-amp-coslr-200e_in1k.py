# EHM's SimMIM, ViT-B/16 at 224 px, 200 epochs on ImageNet-1k at batch 2048
# (8 GPUs x 256): EHM Table VIII's SimMIM row ("pre-trained using the
# official code for 200 epochs"). mmpretrain 1.2.0 has no SimMIM-ViT config:
# the model and optimisation are the official SimMIM ViT-B recipe
# (simmim_pretrain__vit_base__img224__800ep.yaml) in mmpretrain's SimMIM
# shape (the Swin config beside this one). Everything but the mask is
# SimMIM's: the [MASK] embedding in place of the masked patch embeddings
# (before the position embedding), the 1x1-conv + pixel-shuffle decoder
# (stride 16) and the L1 loss on the masked pixels.
#
# The mask: Evolved Hierarchical Masking at SimMIM's ratio 0.6 (EHM Sec.
# V-B keeps each model's ratio) over the 14 x 14 grid of 16-px patches (EHM
# Sec. IV-A: a tree over the N = 196 patches), guided by the patch-to-patch
# attention of the first 6 blocks (Eq. 6, Sec. V-E) from a no-grad pass of
# the shared patch embedding; no SimMIMMaskGenerator in the pipeline.
# mask_patch_size=32 would mask SimMIM's own 32-px mask patches instead
# (a 7 x 7 tree, the attention averaged over each patch's 2 x 2 tokens).
#
# Backbone: mmpretrain's ViT-B/16 with layer scale 0.1 and drop path 0.1 as
# the official recipe, but with a learned absolute position embedding (the
# official SimMIM ViT uses a shared relative position bias, which mmpretrain's
# VisionTransformer has not) and mmpretrain's ViT initialisation (the official
# code draws every linear layer from a truncated normal of std 0.02).
# Optimisation as the official recipe: AdamW (0.9, 0.999), lr 1e-4 x 2048 /
# 512, 10 warm-up epochs from 5e-7 x 2048 / 512, wd 0.05 (none on 1-D
# parameters, the position embedding, the class and mask tokens), gradient
# norm clipped at 5, AMP; its step decay (x 0.1 at 7/8 of 800 epochs) is
# replaced by mmpretrain's SimMIM cosine, ending at the same 1/10 of the peak.
_base_ = ['../_base_/default_runtime.py']

# data: SimMIM's views (official SimMIM: a 224-px random resized crop of
# scale 0.67-1 and a horizontal flip) without the mask generator. maskssl's
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
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.67, 1.0)),
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
        type='TokenMaskSimMIMViT',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        layer_scale_init_value=0.1,
        out_type='featmap',
        mask_patch_size=16),
    neck=dict(type='SimMIMLinearDecoder', in_channels=768, encoder_stride=16),
    head=dict(
        type='SimMIMHead',
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L1', channel=3)),
    masker=dict(type='EvolvedHierarchicalMasker', mask_ratio=0.6),
    attention_layers=6,
    attention_source='online')

# optimizer wrapper
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=1e-4 * 2048 / 512,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.)
        }))

# learning rate scheduler
max_epochs = 200
warmup_epochs = 10
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=5e-7 / 1e-4,
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
