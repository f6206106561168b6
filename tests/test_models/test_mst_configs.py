"""Every MST config builds and runs one training step on toy inputs (the
ImageNet configs' crops scaled by 2/7: 64-px global and 27-px local crops,
a 4 x 4 grid of 16-px patches); 30 iterations of the toy config lower the
loss."""
import glob
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import DATASETS, MODELS

from conftest import REPO, train_iterations
from maskssl.analysis.benchmark import rescale_crops

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'mst', '*.py')))
TOY = osp.join(REPO, 'configs/mst/mst_vit-tiny-p8_1xb32-coslr-10e_toy.py')


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {
        'mst_deit-small-p16_8xb128-amp-coslr-100e_in1k.py',
        'mst_deit-small-p16_8xb128-amp-coslr-300e_in1k.py',
        'mst-randommask_deit-small-p16_8xb128-amp-coslr-100e_in1k.py',
        'mst-nomask_deit-small-p16_8xb128-amp-coslr-100e_in1k.py',
        osp.basename(TOY)
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)
                                               for p in CONFIGS])
def test_config_trains_one_step(path, toy_root):
    cfg = Config.fromfile(path)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = toy_root
    if 'toy' not in path:
        rescale_crops(dataset_cfg.pipeline, 2 / 7)  # 224 -> 64 px
    cfg.model.data_preprocessor = cfg.data_preprocessor
    dataset = DATASETS.build(dataset_cfg)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    optim = dict(cfg.optim_wrapper, type='OptimWrapper')  # AMP: no GPU
    optim.pop('loss_scale', None)
    optim_wrapper = build_optim_wrapper(model, optim)
    data = default_collate([dataset[i] for i in range(4)])
    before = [p.detach().clone() for p in model.backbone.parameters()]
    log_vars = model.train_step(data, optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    assert ('loss_restore' in log_vars) == (cfg.model.decoder is not None)
    assert any(not torch.equal(a, b)
               for a, b in zip(before, model.backbone.parameters()))


@pytest.mark.slow
def test_thirty_iterations_lower_the_loss(tmp_path, toy_root):
    # the per-epoch hooks need an epoch-based loop; at the config's start
    # the teacher temperature is 0.04 and the last layer is frozen
    curves = train_iterations(
        TOY, str(tmp_path), toy_root,
        drop_hooks=('TeacherTempWarmupHook', 'FreezeLastLayerHook'))
    assert set(curves) == {'loss', 'loss_ce', 'loss_restore'}
    for values in curves.values():
        assert len(values) == 30 and np.isfinite(values).all()
    first, last = ({k: v[s].mean() for k, v in curves.items()}
                   for s in (slice(0, 5), slice(-5, None)))
    assert last['loss'] < first['loss'] - 0.2
    assert last['loss_ce'] < first['loss_ce']
    assert last['loss_restore'] < 0.8 * first['loss_restore']
