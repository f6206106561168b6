from typing import Any

from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmpretrain.registry import MODEL_WRAPPERS
from torch import nn


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU processes (gloo).

    torch's ``SyncBatchNorm`` refuses CPU modules, and SyncBN also comes from
    class defaults that a config does not show (e.g. mmpretrain's
    ``NonLinearNeck``), so every SyncBN layer of the built model is reverted to
    BatchNorm here, before DDP wraps it. ``device_ids`` is ``None`` as CPU DDP
    requires. ``tools/train.py`` selects this wrapper when no GPU is present.
    """

    def __init__(self, module: nn.Module, **kwargs: Any) -> None:
        kwargs['device_ids'] = None
        super().__init__(module=revert_sync_batchnorm(module), **kwargs)
