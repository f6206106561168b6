# ResNet-50 linear probe on TinyImageNet (the saliency-masking paper's
# ablations, Sec. 4.3): resnet50_8xb32-linear-steplr-100e_in100.py (the
# ImageNet linear protocol) on TinyImageNet's 200 classes. The 64 px images
# are up-sampled as in pretraining (configs/_base_/datasets/
# tinyimagenet_bs32_mocov2.py): RandomResizedCrop 224 for training, resize
# 256 + centre crop 224 for testing.
# Data: python tools/dataset_converters/make_tinyimagenet.py \
#           data/tiny-imagenet-200
# Models pretrained with the high-pass fill take
# resnet50_8xb32-linear-steplr-100e_tinyin200-highpass.py instead.
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = './resnet50_8xb32-linear-steplr-100e_in100.py'

data_root = 'data/tiny-imagenet-200/'
num_classes = 200

# merged into the base's data_preprocessor (mean, std, to_rgb)
data_preprocessor = dict(num_classes=num_classes)
model = dict(
    data_preprocessor=data_preprocessor,
    head=dict(num_classes=num_classes))

train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
