# MST, DeiT-S/16, 100 epochs on ImageNet-1k at batch 1024 (8 GPUs x 128),
# the paper's main ablation setting (Tables 1, 4-6, 8). Every BN (projection
# head and decoder, student and teacher) is SyncBN, as DINO converts them
# (App. C).
_base_ = [
    '../_base_/models/mst_deit-small-p16.py',
    '../_base_/datasets/imagenet_bs128_mst.py',
    '../_base_/schedules/imagenet_adamw_coslr-100e_mst.py',
    '../_base_/default_runtime.py',
]

sync_bn = 'torch'
# the teacher temperature's warm-up (DINO: 0.04 -> 0.07 over 30 epochs) and
# the last layer frozen in the first epoch (DINO's freeze_last_layer 1)
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='DivergenceGuardHook'),
    dict(type='TeacherTempWarmupHook', warmup_teacher_temp=0.04,
         teacher_temp=0.07, warmup_epochs=30),
    dict(type='FreezeLastLayerHook', epochs=1, prefix='neck.last_layer'),
]
default_hooks = dict(logger=dict(interval=50))
