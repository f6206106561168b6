"""30 iterations of the toy MaskDeep config lower the loss."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import REPO

TOY = osp.join(REPO, 'configs/maskdeep/maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py')


@pytest.mark.slow
def test_thirty_iterations_lower_the_loss(tmp_path, toy_root):
    cfg = Config.fromfile(TOY)
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.dataset.data_root = toy_root
    cfg.train_dataloader.batch_size = 16
    cfg.train_dataloader.num_workers = 0
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=30)
    cfg.param_scheduler = []  # the config's lr, constant
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = np.asarray(runner.message_hub.get_scalar('train/loss').data[0])
    assert len(losses) == 30 and np.isfinite(losses).all()
    assert losses[-5:].mean() < 0.5 * losses[:5].mean()
