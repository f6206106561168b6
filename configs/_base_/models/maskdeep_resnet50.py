# MaskDeep on ResNet-50 (Sec. 4.1): P3-P5 at 512-d, K = 16 groups of k = 12
# points, predictor 12 * 512 -> 4096 -> 2048, target the momentum encoder's
# pooled C5 (2048-d), momentum 0.99 -> 1 (CosineEMA's argument is 1 - 0.99).
model = dict(
    type='MaskDeep',
    base_momentum=0.01,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(1, 2, 3),  # C3, C4, C5 -> P3, P4, P5 (Table 3a)
        norm_cfg=dict(type='SyncBN'),
        zero_init_residual=False),
    neck=dict(
        type='HierarchicalDeepMaskingNeck',
        in_channels=[512, 1024, 2048],
        out_channels=512,
        num_groups=16,
        num_points=12),
    head=dict(
        type='MaskDeepHead',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=12 * 512,  # k * d
            hid_channels=4096,
            out_channels=2048,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False,
            norm_cfg=dict(type='SyncBN')),
        # Eq. 2's sums over the K groups and the N + 1 targets of each view
        loss=dict(type='MultiTargetCosineLoss', reduction='sum')),
)
