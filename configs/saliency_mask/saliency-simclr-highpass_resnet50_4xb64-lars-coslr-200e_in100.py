# Saliency-guided masking, HighPassFill strategy, in SimCLR on ImageNet-100
# (arXiv 2309.12757, Table 1): 4 GPUs x 64 = batch 256, LARS lr 0.3,
# 10 warm-up epochs, 200 epochs.
_base_ = [
    '../_base_/models/saliency-simclr_resnet50.py',
    '../_base_/datasets/imagenet100_bs64_simclr.py',
    '../_base_/schedules/imagenet_lars_coslr-200e_saliency-simclr.py',
    '../_base_/default_runtime.py',
]

model = dict(fill=dict(type='HighPassFill'))
