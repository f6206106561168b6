import importlib

from mmengine import DefaultScope
from mmpretrain.utils import register_all_modules as register_mmpretrain


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register mmpretrain's modules and maskssl's into mmpretrain's registries.

    maskssl registers into mmpretrain's own registries (as mmpretrain's
    ``projects/`` do), so the default scope stays ``'mmpretrain'``.

    Args:
        init_default_scope (bool): Whether to set ``'mmpretrain'`` as the
            default scope, as ``mmpretrain.utils.register_all_modules`` does.
    """
    register_mmpretrain(init_default_scope=False)
    importlib.import_module('maskssl')
    if init_default_scope and DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('mmpretrain', scope_name='mmpretrain')
