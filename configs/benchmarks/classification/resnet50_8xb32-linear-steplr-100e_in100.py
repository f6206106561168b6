# ResNet-50 linear probe on ImageNet-100 (saliency-guided masking paper, Sec.
# 4.1, Table 1): the ImageNet protocol of
# resnet50_8xb32-linear-steplr-100e_in1k.py, inherited unchanged (frozen
# backbone, SGD lr 30, momentum 0.9, no weight decay, 100 epochs, lr x0.1 at
# 60 and 80, batch 256 = 8 x 32, RandomResizedCrop 224 + flip; resize 256 +
# centre crop 224 for testing) on the 100 classes of ImageNet-100.
# Data: python tools/dataset_converters/make_imagenet100.py \
#           data/imagenet data/imagenet100 --link
# Models pretrained with the high-pass fill (saliency-*-highpass configs)
# take resnet50_8xb32-linear-steplr-100e_in100-highpass.py instead.
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = './resnet50_8xb32-linear-steplr-100e_in1k.py'

dataset_type = 'CustomDataset'
data_root = 'data/imagenet100/'
num_classes = 100

# the pretraining's normalisation (configs/_base_/datasets/
# imagenet100_bs32_mocov2.py); given in the model too, so that building
# cfg.model alone (tests, tools) normalises as the runner does
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
model = dict(
    data_preprocessor=data_preprocessor,
    head=dict(num_classes=num_classes))

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='val',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
