from .epoch_seed_hook import EpochSeedHook
from .knn_monitor_hook import KNNMonitorHook
from .pretrained_check_hook import PretrainedCheckHook

__all__ = ['EpochSeedHook', 'KNNMonitorHook', 'PretrainedCheckHook']
