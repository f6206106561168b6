# The `make demo` recipe: the toy MaskDeep config
# (maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py) at a quarter of ResNet-18's
# width (base_channels 16: C3-C5 at 32/64/128 channels; the predictor's
# output 128-d, the width of the momentum target's pooled C5) for 20 epochs
# (1240 iterations) in the time the half-width model took for 10. Chosen
# by kNN on the dev split of other toy scenes (configs/maskdeep/README.md,
# "The toy demo recipe"), never on the val split the demo reports.
_base_ = ['./maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py']

model = dict(
    backbone=dict(base_channels=16),
    neck=dict(in_channels=[32, 64, 128]),
    head=dict(predictor=dict(out_channels=128)))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=19, by_epoch=True, begin=1, end=20,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20)
