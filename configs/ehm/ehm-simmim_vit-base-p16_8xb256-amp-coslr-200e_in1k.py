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
_base_ = [
    '../_base_/datasets/ehm_imagenet_bs256_simmim.py',
    '../_base_/schedules/ehm_simmim_adamw_coslr-200e.py',
    '../_base_/default_runtime.py',
]

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

# optimizer wrapper: the official ViT recipe's peak lr, 1e-4 x 2048 / 512
# (the base's warm-up from 1/200 of the peak is the official 5e-7 x 2048 /
# 512, its cosine ends at 1/10 of this peak), and its weight decay exceptions
optim_wrapper = dict(
    optimizer=dict(lr=1e-4 * 2048 / 512),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.)
        }))

# runtime: keeps the latest 3 checkpoints (SafeCheckpointHook,
# default_runtime.py)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
