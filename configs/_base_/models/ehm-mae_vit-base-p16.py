# EHM's MAE on ViT-B/16 (arXiv 2504.09155, Sec. IV-V): mmpretrain's MAE
# (configs/mae/.../mae_vit-base-p16.py: ViT-B/16 encoder on the visible
# patches, 8-block 512-d decoder, L2 loss on per-patch normalised pixels)
# with its random mask replaced by Evolved Hierarchical Masking: per image, a
# tree of the 196 patches built from the attention of the first 6 encoder
# blocks (averaged over heads and blocks, Eq. 6; Sec. V-E: "the first 6
# layers"), cut at a depth that rises from the leaves to the root over
# training (Eq. 14), parts masked until 75% of the patches are (Sec. V-B:
# "the mask ratio is set to 0.75 following MAE"). The attention pass uses
# the encoder being trained, without gradient, on the patch embedding the
# training forward shares (Sec. V-E).
model = dict(
    type='EHMMAE',
    backbone=dict(type='TokenMaskMAEViT', arch='b', patch_size=16,
                  img_size=224),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=196,
        patch_size=16,
        in_chans=3,
        embed_dim=768,
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.,
    ),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    # depth 'evolved': from the leaves (0) to the root (1) of each tree
    # over the whole run; a number fixes it (Table IV: 0.2, 0.8)
    masker=dict(type='EvolvedHierarchicalMasker', mask_ratio=0.75,
                depth='evolved'),
    attention_layers=6,
    attention_source='online',
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
