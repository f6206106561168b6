# SimMIM's optimisation as mmpretrain has it (configs/simmim/
# simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py), used by EHM's
# SimMIM (EHM Table VIII: "pre-trained using the official code for 200
# epochs"): AdamW (0.9, 0.999), lr 2e-4 x 2048 / 512 at the total batch of
# 2048, wd 0.05, gradient norm clipped at 5, AMP; the 100-epoch schedule
# stretched to 200: 10 linear warm-up epochs from 1/200 of the peak lr
# (1e-6 x 2048 / 512), then cosine to 1e-5 x 2048 / 512. The weight decay
# exceptions name the backbone's parameters: each config sets its
# paramwise_cfg.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=2e-4 * 2048 / 512,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    clip_grad=dict(max_norm=5.0))

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

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

# NOTE: `auto_scale_lr` is for automatically scaling LR
# based on the actual training batch size.
auto_scale_lr = dict(base_batch_size=2048)
