import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from maskssl.datasets import write_toy_dataset
from maskssl.engine.hooks import PretrainedCheckHook
from maskssl.utils import register_all_modules
from maskssl.utils.config import iter_cfg_dicts

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PYTHON = sys.executable
# modules that tests import into subprocesses (tests/helpers on PYTHONPATH),
# not tests themselves
collect_ignore = ['helpers']

if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs pytest-xdist workers side by side: one thread each
    # (and in the tools they start) keeps them from oversubscribing the cores
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '1'
    torch.set_num_threads(1)

register_all_modules()


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory) -> str:
    """A small toy dataset (48 train, 16 val scenes at 48-64 px), shared by
    the whole session."""
    root = str(tmp_path_factory.mktemp('toy'))
    write_toy_dataset(root, num_train=48, num_val=16, min_size=48,
                      max_size=64, seed=1)
    return root


def set_pretrained_checkpoint(model_cfg, checkpoint: str) -> None:
    """Put ``checkpoint`` into every Pretrained init_cfg of ``model_cfg``."""
    for node in iter_cfg_dicts(model_cfg):
        if node.get('type') == 'Pretrained':
            node['checkpoint'] = checkpoint


def pretrained_check_args(cfg) -> dict:
    """The check_pretrained arguments of the config's PretrainedCheckHook
    (the hook's own defaults where the config gives none)."""
    hook = next(h for h in cfg.custom_hooks
                if h['type'].endswith('PretrainedCheckHook'))
    hook = PretrainedCheckHook(
        **{k: v for k, v in hook.items() if k != 'type'})
    return dict(allow_missing=hook.allow_missing,
                allow_unexpected=hook.allow_unexpected,
                resizable=hook.resizable)


def train_iterations(config: str, work_dir: str, toy_root: str,
                     iters: int = 30, batch_size: int = 8,
                     drop_hooks: tuple = ()) -> dict:
    """Train ``config`` on the toy data for ``iters`` iterations at its own
    lr, held constant (no scheduler), without the ``drop_hooks`` custom
    hooks; return each logged loss term's values per iteration."""
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.train_dataloader.dataset.data_root = toy_root
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_dataloader.num_workers = 0
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.param_scheduler = []
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if h['type'] not in drop_hooks]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    return {
        key[len('train/'):]: np.asarray(hub.get_scalar(key).data[0])
        for key in hub.log_scalars
        if key.startswith('train/') and key.split('/')[1].startswith('loss')
    }


def spy_masker(model) -> dict:
    """Make ``model.masker`` record each call's ``grid``, ``guidance`` and
    returned ``mask`` in the dict returned (the latest call's)."""
    seen = {}
    forward = model.masker.forward

    def spy(*args, **kwargs):
        mask = forward(*args, **kwargs)
        seen['grid'] = tuple(args[1])
        seen['guidance'] = args[2] if len(args) > 2 else kwargs.get(
            'guidance')
        seen['mask'] = mask
        return mask

    model.masker.forward = spy
    return seen
