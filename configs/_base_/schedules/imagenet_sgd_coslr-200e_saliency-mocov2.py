# MoCo v2 in the saliency-masking paper (Sec. 4): SGD, lr 0.015 at batch 128,
# momentum 0.9, weight decay 1e-4 (mmpretrain's MoCo v2), cosine over 200
# epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.015, weight_decay=1e-4, momentum=0.9))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0,
         end=200)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
auto_scale_lr = dict(base_batch_size=128)
