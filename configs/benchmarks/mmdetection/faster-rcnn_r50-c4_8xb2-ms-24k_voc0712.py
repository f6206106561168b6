# Faster R-CNN R50-C4 on VOC07+12 trainval, tested on VOC2007 test with the
# 11-point mAP, 24k iterations (lr steps at 18k / 22k) at batch 16, short side
# 480-800: the MoCo / DetCo protocol of MaskDeep Table 1 and the saliency
# paper's Table 2.
# Usage: tools/benchmarks/mmdetection/dist_train_c4.sh THIS_CONFIG CKPT 8
_base_ = [
    '../../_base_/models/faster-rcnn_r50-c4_ssl.py',
    'mmdet::_base_/datasets/voc0712.py',
    '../../_base_/benchmarks/mmdet_runtime.py',
]

model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))
custom_hooks = [{{_base_.c4_pretrained_check}}]

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize',
         scales=[(1333, s) for s in range(480, 801, 32)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
voc_trainval = dict(
    type='VOCDataset',
    data_root={{_base_.data_root}},
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=train_pipeline,
    backend_args={{_base_.backend_args}})
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        # VOCDataset adds its own `dataset_type` to the metainfo
        ignore_keys=['dataset_type'],
        datasets=[
            dict(voc_trainval, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/')),
            dict(voc_trainval, ann_file='VOC2012/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2012/')),
        ]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# mmdet's VOCMetric defaults to the 11-point mAP ('11points') of VOC2007.
val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='11points')
test_evaluator = val_evaluator

max_iters = 24000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=100),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[18000, 22000], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(checkpoint=dict(
    type='mmpretrain.SafeCheckpointHook', by_epoch=False, interval=4000))
log_processor = dict(by_epoch=False)
