"""Every config under configs/ loads and builds its model."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmpretrain.registry import MODELS

from conftest import REPO

CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)


def test_configs_found():
    assert CONFIGS


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.custom_imports.imports == ['maskssl']
    assert {'type': 'EpochSeedHook'} in cfg.custom_hooks
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    assert sum(p.numel() for p in model.parameters()) > 0
