# MAE's optimisation (mmpretrain configs/mae/
# mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py), which EHM keeps (Sec.
# V-B: AdamW, beta1 0.9, beta2 0.95; "optimization settings follow the
# corresponding works"): lr 1.5e-4 x 4096 / 256 at the total batch of 4096,
# weight decay 0.05 (none on norms, biases, position embedding, class and
# mask tokens), 40 linear warm-up epochs then cosine decay to 0, AMP.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW',
        lr=1.5e-4 * 4096 / 256,
        betas=(0.9, 0.95),
        weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))

warmup_epochs = 40
max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True)
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# the total batch the lr is set for: 8 GPUs x 512
auto_scale_lr = dict(base_batch_size=4096)
