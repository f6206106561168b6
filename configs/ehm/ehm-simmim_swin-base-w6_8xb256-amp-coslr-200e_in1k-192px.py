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
_base_ = [
    '../_base_/datasets/ehm_imagenet_bs256_simmim.py',
    '../_base_/schedules/ehm_simmim_adamw_coslr-200e.py',
    '../_base_/default_runtime.py',
]

# data: SimMIM's views (mmpretrain configs/_base_/datasets/
# imagenet_bs256_simmim_192.py) without the mask generator, the base's at a
# 192-px crop
train_pipeline = [
    dict(t, scale=192) if t.type == 'RandomResizedCrop' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

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

# optimizer wrapper: the base's (mmpretrain's SimMIM-Swin recipe); no weight
# decay on norms, biases, position tables and, as the official code, the mask
# token
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.)
        }))

# runtime: keeps the latest 3 checkpoints (SafeCheckpointHook,
# default_runtime.py)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
