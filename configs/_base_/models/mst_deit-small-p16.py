# MST on DeiT-S/16 (arXiv 2106.05656, Sec. 3-4): DINO self-distillation
# (teacher = EMA of the student's backbone and projection head, momentum
# 0.996 -> 1 cosine; 3-layer projection MLP, hidden 2048, bottleneck 256,
# 65536 weight-normalised prototypes, with BN, Table 6; DINO loss with
# centring 0.9 and sharpening, student temperature 0.1, teacher 0.04 -> 0.07
# over 30 epochs), the student's global views masked by the teacher's class
# attention (num 8, p 0.1, Table 5) and restored by the global image decoder
# (L1, lambda_2 0.6, Eq. 11). Student drop path 0.1 (DINO's ViT-S; the
# teacher has none). Where MST is silent it follows DINO (Sec. 4.1).
model = dict(
    type='MST',
    backbone=dict(
        type='MSTVisionTransformer',
        arch='deit-small',
        patch_size=16,
        img_size=224,
        drop_path_rate=0.1,
        out_type='cls_token'),
    neck=dict(
        type='DINOProjectionNeck',
        in_channels=384,
        out_channels=65536,
        hidden_channels=2048,
        bottleneck_channels=256,
        use_bn=True),
    head=dict(
        type='DINODistillationHead',
        out_channels=65536,
        student_temp=0.1,
        teacher_temp=0.04,
        center_momentum=0.9),
    masker=dict(type='AttentionGuidedMasker', num=8, p=0.1),
    decoder=dict(type='GlobalImageDecoder', in_channels=384,
                 channels=(256, 128, 64, 32)),
    restore_loss=dict(type='PixelReconstructionLoss', criterion='L1'),
    ce_weight=1.0,
    restore_weight=0.6,
    base_momentum=0.004)

