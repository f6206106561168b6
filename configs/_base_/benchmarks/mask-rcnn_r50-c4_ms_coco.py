# Mask R-CNN R50-C4 from a maskssl ResNet-50 on COCO with multi-scale
# training, without a schedule (the benchmark configs add schedule_1x / 2x).
_base_ = [
    '../models/mask-rcnn_r50-c4_ssl.py',
    './coco_instance_ms.py',
    './mmdet_runtime.py',
]

custom_hooks = [{{_base_.c4_pretrained_check}}]
