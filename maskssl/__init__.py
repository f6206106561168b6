"""maskssl: masking-based self-supervised learning methods for mmpretrain.

Importing the package registers every maskssl module into mmpretrain's
registries and allow-lists the non-tensor types that mmengine writes into
training checkpoints, so that ``torch.load(weights_only=True)`` can resume them.
"""
from .checkpoint.safe_load import allow_mmengine_checkpoint_types
from .version import __version__

allow_mmengine_checkpoint_types()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .utils.setup_env import register_all_modules  # noqa: E402

__all__ = ['__version__', 'register_all_modules']
