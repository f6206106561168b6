from .epoch_seed_hook import EpochSeedHook
from .pretrained_check_hook import PretrainedCheckHook

__all__ = ['EpochSeedHook', 'PretrainedCheckHook']
