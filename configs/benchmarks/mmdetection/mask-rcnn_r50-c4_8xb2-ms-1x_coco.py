# Mask R-CNN R50-C4 on COCO, 1x (12 epochs), from a maskssl ResNet-50.
# Usage: tools/benchmarks/mmdetection/dist_train_c4.sh THIS_CONFIG CKPT 8
_base_ = [
    '../../_base_/benchmarks/mask-rcnn_r50-c4_ms_coco.py',
    'mmdet::_base_/schedules/schedule_1x.py',
]
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
