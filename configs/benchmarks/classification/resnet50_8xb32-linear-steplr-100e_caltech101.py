# ResNet-50 linear probe on Caltech-101 (saliency-guided masking paper, Sec.
# 4.2, Table 3). The paper says only "we keep the pretrained feature encoder
# fixed and only train the linear classifier"; we follow its ImageNet-100
# protocol (resnet50_8xb32-linear-steplr-100e_in100.py: SGD lr 30, momentum
# 0.9, no weight decay, 100 epochs, lr x0.1 at 60 and 80, batch 256, same
# augmentations) unchanged.
# Data: mmpretrain's Caltech101 with its split (30 train images a class, 3060
# in all, the rest for testing; 102 classes, BACKGROUND_Google included):
#   data/caltech-101/101_ObjectCategories/<class>/*.jpg   (the official
#       archive, https://data.caltech.edu/records/mzrjq-6wc02)
#   data/caltech-101/meta/{train,test}.txt  (from
#       https://download.openmmlab.com/mmpretrain/datasets/caltech_meta.zip)
# Models pretrained with the high-pass fill take ..._caltech101-highpass.py.
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = './resnet50_8xb32-linear-steplr-100e_in100.py'

dataset_type = 'Caltech101'
data_root = 'data/caltech-101'
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
        split='train',
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
# transfer benchmarks often report for Caltech-101 (the paper does not say
# which it reports)
val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='SingleLabelMetric', items=('recall', ), average='macro'),
]
test_evaluator = val_evaluator
