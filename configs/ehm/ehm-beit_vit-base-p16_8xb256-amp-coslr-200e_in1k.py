# EHM's BEiT (EHM Table VIII): BEiT v1, ViT-B/16, 200 epochs on ImageNet-1k
# at batch 2048 (8 GPUs x 256), its mask from the Evolved Hierarchical
# Masker instead of BEiT's blockwise generator. Everything else is
# mmpretrain 1.2.0's BEiT v1 recipe
# (configs/beit/beit_beit-base-p16_8xb256-amp-coslr-300e_in1k.py): EHM
# pre-trains BEiT "using the official code" (Sec. V-D), with its optimiser
# (AdamW, betas 0.9/0.999), shortened from 300 to 200 epochs.
_base_ = [
    '../_base_/datasets/ehm_imagenet_bs256_beitv1.py',
    '../_base_/default_runtime.py',
]

# BEiT v1: the shared relative position bias, layer scale 0.1, drop path
# 0.1, BEiT's init; the masker's guidance is the patch-to-patch attention of
# the first 6 layers (EHM Sec. V-E), over all 196 patches. Mask ratio 0.4:
# EHM keeps each model's ratio and BEiT masks about 40% (at most 75 of 196);
# the masker masks exactly 79 of 196 (mask_ratio=75 / 196 gives 75).
model = dict(
    type='EHMBEiT',
    backbone=dict(
        type='TokenMaskBEiTViT',
        arch='base',
        patch_size=16,
        drop_path_rate=0.1,
        final_norm=True,
        out_type='raw',
        layer_scale_init_value=0.1,
        init_cfg=[
            dict(type='TruncNormal', std=0.02, layer='Linear'),
            dict(type='TruncNormal', std=0.02, layer='Conv2d'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]),
    head=dict(
        type='BEiTV1Head',
        embed_dims=768,
        num_embed=8192,
        loss=dict(type='CrossEntropyLoss')),
    target_generator=dict(
        type='DALL-E',
        init_cfg=dict(
            type='Pretrained',
            checkpoint=  # noqa: E251
            'https://download.openmmlab.com/mmselfsup/1.x/target_generator_ckpt/dalle_encoder.pth',  # noqa: E501
        )),
    masker=dict(type='EvolvedHierarchicalMasker', mask_ratio=0.4),
    attention_layers=6)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW', lr=1.5e-3, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        custom_keys={
            # BEiT's: no weight decay on norms, biases, tokens, layer scales
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            'q_bias': dict(decay_mult=0.0),
            'v_bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '.gamma': dict(decay_mult=0.0),
        }))

max_epochs = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

randomness = dict(seed=0, diff_rank_seed=True)
# the DALL-E tokenizer's parameters get no gradient (as in mmpretrain's
# BEiT config)
find_unused_parameters = True
# the paper's batch: 8 GPUs x 256
auto_scale_lr = dict(base_batch_size=2048)
