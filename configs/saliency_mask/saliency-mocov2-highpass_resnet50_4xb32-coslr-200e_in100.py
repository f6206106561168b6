# Saliency-guided masking, HighPassFill strategy, in MoCo v2 on ImageNet-100
# (arXiv 2309.12757, Table 1): 4 GPUs x 32 = batch 128, lr 0.015, 200 epochs.
_base_ = [
    '../_base_/models/saliency-mocov2_resnet50.py',
    '../_base_/datasets/imagenet100_bs32_mocov2.py',
    '../_base_/schedules/imagenet_sgd_coslr-200e_saliency-mocov2.py',
    '../_base_/default_runtime.py',
]

model = dict(fill=dict(type='HighPassFill'))
