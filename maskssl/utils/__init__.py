from .checkpoint import (allow_mmengine_checkpoint_types, backbone_state,
                         load_backbone_weights, read_checkpoint, save_atomic,
                         strip_prefix)
from .config import check_dataset_paths, find_unknown_cfg_keys
from .dist import adapt_cfg_to_cpu, init_cpu_dist
from .launch import load_config, prepare_launch
from .setup_env import register_all_modules

__all__ = [
    'allow_mmengine_checkpoint_types', 'backbone_state', 'read_checkpoint',
    'save_atomic', 'strip_prefix', 'check_dataset_paths',
    'find_unknown_cfg_keys', 'adapt_cfg_to_cpu', 'load_backbone_weights', 'init_cpu_dist',
    'load_config', 'prepare_launch', 'register_all_modules'
]
