"""Every saliency-masking config builds and runs one training step on toy
inputs (crops scaled 1/4: 56 px, a 2 x 2 saliency grid)."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import DATASETS, MODELS

from conftest import REPO
from maskssl.analysis.benchmark import rescale_crops

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'saliency_mask',
                                    '*.py')))


def test_configs_found():
    names = [osp.basename(p) for p in CONFIGS]
    for algo in ('mocov2', 'simclr'):
        for fill in ('highpass', 'blur', 'mean'):
            assert any(n.startswith(f'saliency-{algo}-{fill}_resnet50')
                       for n in names), (algo, fill)


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)
                                               for p in CONFIGS])
def test_config_trains_one_step(path, toy_root):
    cfg = Config.fromfile(path)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = toy_root
    if 'toy' not in path:
        rescale_crops(dataset_cfg.pipeline, 1 / 4)  # 224 -> 56 px
    saliency = cfg.model.get('saliency')
    if saliency and saliency.source == 'pretrained':
        # nothing is downloaded in tests: a random localisation network
        saliency.network.init_cfg = None
        saliency.allow_random = True
    cfg.model.data_preprocessor = cfg.data_preprocessor
    dataset = DATASETS.build(dataset_cfg)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    data = default_collate([dataset[i] for i in range(4)])
    before = [p.detach().clone() for p in model.backbone.parameters()]
    loss = model.train_step(data, optim_wrapper)['loss']
    assert math.isfinite(loss.item()) and loss.item() > 0
    assert any(not torch.equal(a, b)
               for a, b in zip(before, model.backbone.parameters()))
