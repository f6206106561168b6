# MST's optimisation (Sec. 4.1, App. G; DINO's settings where MST follows
# them): AdamW, lr 5e-4 x batch / 256 (2e-3 at the paper's batch 1024),
# 10 linear warm-up epochs then cosine decay to 1e-6, weight decay cosine from
# 0.04 to 0.4 per iteration (none on biases and norms, as DINO), gradient
# norm clipped at 3.0, AMP. The teacher temperature warm-up and the frozen
# last layer in epoch 1 are hooks (custom_hooks of the model configs).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999),
                   weight_decay=0.04),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

warmup_epochs = 10
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-9, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, T_max=max_epochs, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# the paper's batch: 8 GPUs x 128
auto_scale_lr = dict(base_batch_size=1024)
