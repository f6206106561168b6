# BEiT v1's pre-training views (mmpretrain configs/beit/
# beit_beit-base-p16_8xb256-amp-coslr-300e_in1k.py), used by EHM's BEiT: two
# views of one crop, 224 px for the ViT, 112 px for the DALL-E tokenizer (8x
# downsampling: 14 x 14 visual tokens, one per 16-px patch), normalised apart
# (TwoNormDataPreprocessor: the first as ImageNet, DALL-E's [0.1, 0.9]
# mapping for the second). No BEiTMaskGenerator: the model's masker makes the
# mask. Batch 256 per GPU, the last incomplete batch dropped; the rest is the
# ImageNet loader of ehm_imagenet_bs256_simmim.py.
_base_ = './ehm_imagenet_bs256_simmim.py'

data_preprocessor = dict(
    type='TwoNormDataPreprocessor',
    second_mean=[-31.875, -31.875, -31.875],
    second_std=[318.75, 318.75, 318.75])

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
         hue=0.),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomResizedCropAndInterpolationWithTwoPic',
         size=224,
         second_size=112,
         interpolation='bicubic',
         second_interpolation='lanczos',
         scale=(0.08, 1.0)),
    dict(type='PackInputs'),
]
train_dataloader = dict(drop_last=True, dataset=dict(pipeline=train_pipeline))
