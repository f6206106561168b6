"""Every config under configs/ loads and builds its model: pretraining
configs in mmpretrain's scope, benchmark configs in mmdet's, mmseg's or
mmpretrain's, each taking its weights through a ``Pretrained`` init_cfg with
``prefix='backbone.'`` and checked by ``PretrainedCheckHook``."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO
from maskssl.utils.config import iter_cfg_dicts

CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)
BENCHMARK_SCOPES = {'mmdetection': 'mmdet', 'mmsegmentation': 'mmseg',
                    'classification': 'mmpretrain'}


def _benchmark_kind(path: str) -> str:
    rel = osp.relpath(path, osp.join(REPO, 'configs'))
    return rel.split(osp.sep)[1] if rel.startswith('benchmarks') else ''


def test_configs_found():
    assert CONFIGS
    assert {_benchmark_kind(p) for p in CONFIGS} >= set(BENCHMARK_SCOPES)


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    kind = _benchmark_kind(path)
    assert 'maskssl' in cfg.custom_imports.imports
    if kind:
        assert cfg.default_scope == BENCHMARK_SCOPES[kind]
        assert any(h.type.endswith('PretrainedCheckHook')
                   for h in cfg.custom_hooks)
        inits = [d for d in iter_cfg_dicts(cfg.model)
                 if d.get('type') == 'Pretrained']
        assert inits and all(i.prefix == 'backbone.' for i in inits)
        assert cfg.model.get('pretrained') is None
    else:
        assert cfg.default_scope == 'mmpretrain'
        assert {'type': 'EpochSeedHook'} in cfg.custom_hooks
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
    assert sum(p.numel() for p in model.parameters()) > 0
    if kind:
        # an SSL ResNet has the plain conv1/bn1 stem, not V1c's deep stem
        assert not any(k.startswith('backbone.stem.')
                       for k in model.state_dict())


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_training_configs_write_checkpoints_atomically(path):
    """Every config that trains saves through SafeCheckpointHook; the
    pretraining configs also stop on divergence (DivergenceGuardHook)."""
    cfg = Config.fromfile(path)
    if cfg.get('train_cfg') is None:  # evaluation only (kNN)
        return
    assert cfg.default_hooks.checkpoint.type.split('.')[-1] == \
        'SafeCheckpointHook'
    if not _benchmark_kind(path):
        hooks = [h['type'] for h in cfg.custom_hooks]
        assert 'DivergenceGuardHook' in hooks and 'EpochSeedHook' in hooks
