"""Running the OpenMMLab launchers on machines without a GPU.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and uses NCCL,
and torch's ``SyncBatchNorm`` refuses CPU modules. When no GPU is present,
``tools/train.py`` creates a gloo process group itself and adapts the config
with :func:`adapt_cfg_to_cpu`; every change is logged as a warning.
"""
import os
from typing import Any, List

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'TorchSyncBN')


def init_cpu_dist(launcher: str) -> None:
    """Initialise a gloo process group from the launcher's environment.

    Args:
        launcher (str): ``'pytorch'`` (``torchrun``: ``RANK``, ``WORLD_SIZE``,
            ``MASTER_ADDR``, ``MASTER_PORT``) or ``'slurm'`` (``SLURM_PROCID``,
            ``SLURM_NTASKS``; ``MASTER_ADDR``/``MASTER_PORT`` must be set).
    """
    if torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    elif launcher == 'mpi':
        os.environ.setdefault('RANK', os.environ['OMPI_COMM_WORLD_RANK'])
        os.environ.setdefault('WORLD_SIZE', os.environ['OMPI_COMM_WORLD_SIZE'])
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher {launcher} needs the environment variables {missing}; '
            'start the job with tools/dist_train.sh (torchrun) or '
            'tools/slurm_train.sh')
    torch_dist.init_process_group(backend='gloo')


def _replace_sync_bn(node: Any, path: str, changed: List[str]) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            _replace_sync_bn(value, f'{path}.{key}' if path else key, changed)
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            changed.append(path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _replace_sync_bn(value, f'{path}.{i}', changed)
    return node


def adapt_cfg_to_cpu(cfg: Config, distributed: bool) -> List[str]:
    """Make a GPU config runnable on CPU, in place.

    - every ``SyncBN``/``MMSyncBN`` norm config becomes ``BN`` and
      ``sync_bn`` is dropped (SyncBatchNorm has no CPU implementation);
    - in a distributed run, the process group backend is gloo and the model
      wrapper gets ``device_ids=None`` (CPU DistributedDataParallel).

    Args:
        cfg (Config): The full config.
        distributed (bool): Whether a launcher other than ``'none'`` is used.

    Returns:
        list[str]: Human-readable descriptions of the changes (also logged).
    """
    changes = []
    replaced: List[str] = []
    _replace_sync_bn(cfg._cfg_dict, '', replaced)
    if replaced:
        changes.append('SyncBN -> BN at ' + ', '.join(replaced))
    if cfg.get('sync_bn') is not None:
        cfg.sync_bn = None
        changes.append('sync_bn -> None')
    if distributed:
        env_cfg = cfg.get('env_cfg') or {}
        env_cfg['dist_cfg'] = dict(env_cfg.get('dist_cfg') or {}, backend='gloo')
        cfg.env_cfg = env_cfg
        # mmengine's default wrapper arguments, with CPU DDP's device_ids.
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
        changes.append('gloo backend, model_wrapper_cfg.device_ids=None')
    for change in changes:
        print_log(f'No GPU found: {change}', logger='current', level=30)
    return changes

