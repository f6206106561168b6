from .divergence_guard_hook import DivergenceError, DivergenceGuardHook
from .epoch_seed_hook import EpochSeedHook
from .knn_monitor_hook import KNNMonitorHook
from .pretrained_check_hook import PretrainedCheckHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = [
    'DivergenceError', 'DivergenceGuardHook', 'EpochSeedHook',
    'KNNMonitorHook', 'PretrainedCheckHook', 'SafeCheckpointHook'
]
