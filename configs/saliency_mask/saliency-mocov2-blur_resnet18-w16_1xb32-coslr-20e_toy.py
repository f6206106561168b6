# The toy demo recipe (`tools/demo.py --config`): the toy config
# (saliency-mocov2-blur_resnet18-w32_1xb32-coslr-10e_toy.py) at a quarter of
# ResNet-18's width (base_channels 16: a 128-d last stage) for 20 epochs
# (1240 iterations), with a queue of 1024 keys and key-encoder momentum
# 0.99 (mmengine momentum 0.01). A queue of 4096 outlasts two epochs of the
# 2000 toy images, so each query met its own image's older keys among the
# negatives; MoCo v2's 0.999 still weighs the random initial key encoder
# by 0.999^1240 = 0.29 at the end of 1240 iterations (0.99^1240 ~ 4e-6).
# Chosen by kNN on the dev split of other toy scenes (README.md here,
# "Learning on the toy data"), never on the val split the demo reports.
_base_ = ['./saliency-mocov2-blur_resnet18-w32_1xb32-coslr-10e_toy.py']

model = dict(
    queue_len=1024,
    momentum=0.01,
    backbone=dict(base_channels=16),
    neck=dict(in_channels=128))

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20)
