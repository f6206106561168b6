# Weighted kNN of a DeiT-S/16 on ImageNet (MST App. D, Table 7; DINO's
# protocol): the last block's class token, cosine similarity, temperature
# 0.07, k = 10, 20, 100 and 200, centre crops at 224. A masked-image
# pretraining's [MASK] embedding (MST) is not loaded.
# Usage: python tools/benchmarks/knn_eval.py THIS_CONFIG CKPT
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
    '../../_base_/benchmarks/pretrained_check.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
knn = dict(k=[10, 20, 100, 200], temperature=0.07, img_size=224,
           allow_unexpected=['mask_token'])
