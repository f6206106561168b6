# TinyImageNet (200 classes, 500 train / 50 val images each, 64 x 64 px),
# the ablation dataset of the saliency-masking paper (Sec. 4.3), read by
# mmpretrain's CustomDataset from an ImageNet-style folder: train/<wnid>/...
# and meta/{train,val}.txt with `path label` lines (val images listed by
# val/val_annotations.txt). The paper does not give the input size; its
# 7 x 7 saliency grid of 32 x 32 patches (Sec. 3.1) implies 224 px, so the
# views are random resized crops up-sampled to 224 px, as for ImageNet-100.
_base_ = ['./imagenet100_bs32_mocov2.py']

data_root = 'data/tiny-imagenet-200/'
train_dataloader = dict(dataset=dict(data_root=data_root))
