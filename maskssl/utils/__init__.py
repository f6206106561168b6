from .config import iter_cfg_dicts
from .init_weights import init_weights_quietly
from .setup_env import register_all_modules

__all__ = ['iter_cfg_dicts', 'init_weights_quietly', 'register_all_modules']
