# MaskDeep, ResNet-50, 200 epochs at batch 2048 (16 x 128) and lr 0.04
# (Sec. 4.1): Table 1, row "MaskDeep 200" (71.2 top-1 linear).
_base_ = './maskdeep_resnet50_16xb64-coslr-100e_in1k.py'

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=0.04))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=190, by_epoch=True, begin=10,
         end=200, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=200)
auto_scale_lr = dict(base_batch_size=2048)
