# Mask R-CNN R50-C4 on COCO, 2x (24 epochs): MaskDeep Table 1.
# Usage: tools/benchmarks/mmdetection/dist_train_c4.sh THIS_CONFIG CKPT 8
_base_ = [
    '../../_base_/benchmarks/mask-rcnn_r50-c4_ms_coco.py',
    'mmdet::_base_/schedules/schedule_2x.py',
]
# atomic checkpoint writes: maskssl's SafeCheckpointHook (same arguments)
default_hooks = dict(checkpoint=dict(type='mmpretrain.SafeCheckpointHook'))
