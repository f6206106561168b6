from .config import iter_cfg_dicts
from .setup_env import register_all_modules

__all__ = ['iter_cfg_dicts', 'register_all_modules']
