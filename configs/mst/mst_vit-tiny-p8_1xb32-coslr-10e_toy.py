# MST on the toy dataset (`tools/demo.py --config`, tests): a 4-block ViT
# (192-d, 3 heads) on 8-px patches at 48 px (a 6 x 6 token grid; 3 x 3 for
# the 24-px local crops), a projection head of 1024 prototypes (hidden 256,
# bottleneck 64), a 3-stage decoder (8 = 2^3), batch 32, 10 epochs. The
# optimiser and the masker are MST's, the teacher temperature warms up over
# 3 of the 10 epochs (DINO: 30 of 100). The lr is 1e-3, not DINO's
# 5e-4 x 32 / 256 = 6.25e-5, which moved neither the loss in 30 iterations
# nor the kNN of the toy val split in 2 epochs (configs/mst/README.md).
_base_ = [
    '../_base_/models/mst_deit-small-p16.py',
    '../_base_/datasets/toy_bs32_mst.py',
    '../_base_/schedules/imagenet_adamw_coslr-100e_mst.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3,
                  feedforward_channels=768),
        patch_size=8,
        img_size=48),
    neck=dict(in_channels=192, out_channels=1024, hidden_channels=256,
              bottleneck_channels=64),
    head=dict(out_channels=1024),
    decoder=dict(in_channels=192, channels=(64, 32, 16)))

optim_wrapper = dict(
    type='OptimWrapper',
    _delete_=True,
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.04),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-9, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=9, eta_min=1e-6, by_epoch=True,
         begin=1, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, T_max=10, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10)
auto_scale_lr = dict(base_batch_size=32)
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='DivergenceGuardHook'),
    dict(type='TeacherTempWarmupHook', warmup_teacher_temp=0.04,
         teacher_temp=0.07, warmup_epochs=3),
    dict(type='FreezeLastLayerHook', epochs=1, prefix='neck.last_layer'),
]
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(max_keep_ckpts=1))
# kNN on the toy split (tools/benchmarks/knn_eval.py, tools/demo.py)
knn = dict(k=[20], temperature=0.07, img_size=48)
