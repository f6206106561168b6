# Weighted kNN of a ResNet-50 on ImageNet (DINO / mmselfsup protocol): cosine
# similarity, temperature 0.07, k = 10 and 20, centre crops at 224.
# Usage: python tools/benchmarks/knn_eval.py THIS_CONFIG CKPT
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
knn = dict(k=[10, 20], temperature=0.07, img_size=224)
