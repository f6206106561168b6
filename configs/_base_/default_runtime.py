# maskssl modules register into mmpretrain's registries.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['maskssl'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic writes: a kill or a full disk never costs the last checkpoint
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)

# Seeds every epoch from (seed, epoch, rank), dataloader workers included, so
# that `--resume` from an epoch checkpoint replays an uninterrupted run.
# DivergenceGuardHook: a NaN/inf loss or gradient stops the run (non-zero
# exit) without taking the step; `max_skips=n` skips up to n such steps.
custom_hooks = [dict(type='EpochSeedHook'), dict(type='DivergenceGuardHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
