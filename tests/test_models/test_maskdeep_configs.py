"""Every MaskDeep config, and every ablation row of configs/maskdeep/README.md,
builds and runs one training step on toy-sized inputs."""
import glob
import math
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import DATASETS, MODELS

from conftest import REPO
from readme_tables import ablation_rows, parse_cfg_options
from maskssl.analysis.benchmark import rescale_crops
from maskssl.structures import MOMENTUM_ROLES, ONLINE_ROLES

CONFIG_DIR = osp.join(REPO, 'configs', 'maskdeep')
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))


ABLATIONS = [(row['Config'], row['Options']) for row in ablation_rows(
    osp.join(CONFIG_DIR, 'README.md'))]


def _one_step(cfg: Config, toy_root: str) -> None:
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = toy_root
    rescale_crops(dataset_cfg.pipeline, 1 / 4)  # 224 -> 56, 128 -> 32 px
    dataset = DATASETS.build(dataset_cfg)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    MessageHub.get_current_instance().update_info('max_iters', 100)
    data = default_collate([dataset[i] for i in range(2)])
    roles = data['data_samples'][0].view_roles
    assert len(data['inputs']) == len(roles)
    before = [p.detach().clone() for p in model.backbone.parameters()]
    loss = model.train_step(data, optim_wrapper)['loss']
    # Eq. 2 sums K x (paired targets) terms 4 (1 - cos), each in [0, 8], per
    # online view; a view is paired with at most every momentum view
    online = sum(role in ONLINE_ROLES for role in roles)
    momentum = sum(role in MOMENTUM_ROLES for role in roles)
    bound = 8 * model.neck.num_groups * online * momentum
    assert math.isfinite(loss.item()) and 0 <= loss.item() <= bound
    assert any(not torch.equal(a, b)
               for a, b in zip(before, model.backbone.parameters()))


def test_ablation_table_found():
    assert len(ABLATIONS) >= 19


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)
                                               for p in CONFIGS])
def test_config_trains_one_step(path, toy_root):
    _one_step(Config.fromfile(path), toy_root)


@pytest.mark.parametrize('config,options', ABLATIONS,
                         ids=[o or c for c, o in ABLATIONS])
def test_ablation_row_trains_one_step(config, options, toy_root):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    if options:
        cfg.merge_from_dict(parse_cfg_options(options))
    _one_step(cfg, toy_root)
    views = cfg.train_dataloader.dataset.pipeline[1].num_views
    if 'num_views=' in options:
        expect = re.search(r'num_views=\[(\d+),(\d+)\]', options).groups()
        assert views == [int(n) for n in expect]
