# MaskDeep's optimisation (Sec. 4.1): SGD lr 0.02 at batch 1024, momentum 0.9,
# weight decay 1e-5, 10 warm-up epochs then cosine decay.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-5))

warmup_epochs = 10
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# the paper's batch: 16 GPUs x 64
auto_scale_lr = dict(base_batch_size=1024)
