# ResNet-50 linear probe on Flowers-102 (saliency-guided masking paper, Sec.
# 4.2, Table 3). The paper says only "we keep the pretrained feature encoder
# fixed and only train the linear classifier"; we follow its ImageNet-100
# protocol (resnet50_8xb32-linear-steplr-100e_in100.py: SGD lr 30, momentum
# 0.9, no weight decay, 100 epochs, lr x0.1 at 60 and 80, batch 256, same
# augmentations) unchanged.
# Data: mmpretrain's Flowers102 with the official split, trained on
# train + val (2040 images, 102 classes), tested on test (6149):
#   data/Flowers102/jpg/image_*.jpg, data/Flowers102/imagelabels.mat,
#   data/Flowers102/setid.mat
#   (https://www.robots.ox.ac.uk/~vgg/data/flowers/102/)
# Models pretrained with the high-pass fill take ..._flowers102-highpass.py.
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = './resnet50_8xb32-linear-steplr-100e_in100.py'

dataset_type = 'Flowers102'
data_root = 'data/Flowers102'
num_classes = 102

data_preprocessor = dict(num_classes=num_classes)
model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    head=dict(num_classes=num_classes))

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        split='trainval',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
# top-1/top-5 accuracy, and the mean per-class accuracy (macro recall) that
# transfer benchmarks often report for Flowers-102 (the paper does not say
# which it reports)
val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='SingleLabelMetric', items=('recall', ), average='macro'),
]
test_evaluator = val_evaluator
