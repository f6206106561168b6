"""Running the OpenMMLab launchers on machines without a GPU.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and uses NCCL,
and torch's ``SyncBatchNorm`` refuses CPU modules. When no GPU is present,
``tools/train.py`` creates a gloo process group itself and adapts the config
with :func:`adapt_cfg_to_cpu`; every change is logged as a warning.
"""
import os
from typing import List

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log


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


def close_dist() -> None:
    """Destroy the default process group at the end of a run that succeeded
    (a no-op outside distributed runs), as torch asks every process to do
    near the end of its main.

    Without it, gloo's worker threads outlive the interpreter's teardown and
    a rank of a finished run can abort at exit ("terminate called without
    an active exception", SIGABRT), which turns the whole job's exit status
    into a failure. Not to be called after an error: another rank may still
    wait in a collective, and the destroy could hang.
    """
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def adapt_cfg_to_cpu(cfg: Config, distributed: bool) -> List[str]:
    """Make a GPU config runnable on CPU, in place.

    Without a launcher, mmengine itself reverts SyncBN to BN. In a
    distributed run, the process group backend becomes gloo and the model is
    wrapped by :class:`~maskssl.engine.CPUDistributedDataParallel`, which
    reverts every SyncBN layer (those from class defaults included) and passes
    ``device_ids=None``. ``sync_bn`` (mmengine's post-build conversion) is
    dropped. mmengine's ``AmpOptimWrapper`` asserts a GPU, so a config that
    asks for it (mmdet's and mmseg's ViT recipes, ``--amp``) trains in fp32
    with ``OptimWrapper`` (``loss_scale`` and ``dtype`` dropped).

    Args:
        cfg (Config): The full config.
        distributed (bool): Whether a launcher other than ``'none'`` is used.

    Returns:
        list[str]: Human-readable descriptions of the changes (also logged).
    """
    changes = []
    if cfg.get('sync_bn') is not None:
        cfg.sync_bn = None
        changes.append('sync_bn -> None')
    optim_wrapper = cfg.get('optim_wrapper') or {}
    if optim_wrapper.get('type') in ('AmpOptimWrapper',
                                     'mmengine.AmpOptimWrapper'):
        optim_wrapper['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype'):
            optim_wrapper.pop(key, None)
        changes.append('AmpOptimWrapper -> OptimWrapper (fp32)')
    if distributed:
        env_cfg = cfg.get('env_cfg') or {}
        env_cfg['dist_cfg'] = dict(env_cfg.get('dist_cfg') or {},
                                   backend='gloo')
        cfg.env_cfg = env_cfg
        # mmengine's default wrapper arguments, on the CPU wrapper.
        wrapper = dict(
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper.update(cfg.get('model_wrapper_cfg') or {})
        # scoped: the Runner looks wrappers up in mmengine's root registry
        wrapper['type'] = 'mmpretrain.CPUDistributedDataParallel'
        cfg.model_wrapper_cfg = wrapper
        changes.append('gloo backend, CPUDistributedDataParallel (SyncBN -> '
                       'BN, device_ids=None)')
    for change in changes:
        print_log(f'No GPU found: {change}', logger='current', level=30)
    return changes
