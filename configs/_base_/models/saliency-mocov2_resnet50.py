# Saliency-guided masking in MoCo v2 (arXiv 2309.12757, Sec. 3): mmpretrain's
# MoCo v2 (queue 65536, dim 128, m = 0.999 i.e. mmengine momentum 0.001,
# tau 0.2, MLP neck) with the query view masked by a fill strategy (the
# leaf config sets `fill`), one hard negative per sample (rho 2.0), and SCDA
# saliency from a frozen ImageNet-supervised ResNet-50 (Sec. 3.1; mmpretrain's
# resnet50_8xb32_in1k, fetched by mmengine's loader on first use, as any
# `Pretrained` init_cfg; `model.saliency.source=momentum
# model.saliency.network=None` reads the momentum encoder instead and needs
# no second network).
model = dict(
    type='SaliencyMoCoV2',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'),
                  zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048,
              out_channels=128, with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.2),
    saliency=dict(
        type='SCDASaliency',
        source='pretrained',
        network=dict(
            type='ResNet', depth=50, out_indices=(3, ),
            init_cfg=dict(
                type='Pretrained',
                checkpoint='https://download.openmmlab.com/mmclassification/'
                'v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
                prefix='backbone.'))),
    # alpha ~ U(0.05, 0.25) of the cells for positives, beta ~ U(0.4, 0.7) of
    # the salient cells for hard negatives (Sec. 3.2)
    fill=dict(
        type='HighPassFill',
        masker=dict(type='SaliencyCellMasker', alpha=(0.05, 0.25),
                    beta=(0.4, 0.7), saliency=True, mask_non_salient=True)),
    mask_branch='query',
    hard_negative=True,
    rho=2.0)
