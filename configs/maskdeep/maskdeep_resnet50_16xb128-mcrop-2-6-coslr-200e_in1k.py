# MaskDeep with multi-crop, 200 epochs at batch 2048 (Table 8, 74.0 top-1).
_base_ = './maskdeep_resnet50_16xb128-coslr-200e_in1k.py'

train_dataloader = dict(
    dataset=dict(pipeline={{_base_.mcrop_train_pipeline}}))
