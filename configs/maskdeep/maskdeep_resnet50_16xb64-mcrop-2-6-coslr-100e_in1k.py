# MaskDeep with multi-crop (Table 8, 73.1 top-1 linear at 100 epochs): two
# 224 px views, two views each at 192, 160 and 128 px (online branch only),
# and the N = 4 extra target views.
_base_ = './maskdeep_resnet50_16xb64-coslr-100e_in1k.py'

train_dataloader = dict(
    dataset=dict(pipeline={{_base_.mcrop_train_pipeline}}))
