from .divergence_guard_hook import DivergenceError, DivergenceGuardHook
from .epoch_seed_hook import EpochSeedHook
from .freeze_last_layer_hook import FreezeLastLayerHook
from .knn_monitor_hook import KNNMonitorHook
from .pretrained_check_hook import PretrainedCheckHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .teacher_temp_warmup_hook import TeacherTempWarmupHook

__all__ = [
    'DivergenceError', 'DivergenceGuardHook', 'EpochSeedHook',
    'FreezeLastLayerHook', 'KNNMonitorHook', 'PretrainedCheckHook',
    'SafeCheckpointHook', 'TeacherTempWarmupHook'
]
