"""Every EHM-MAE config builds and runs one training step on toy inputs (the
ImageNet configs with a tiny ViT substituted and their 224-px crop scaled to
64 px, an 8 x 8 grid of 8-px patches); the ViT-B config is mmpretrain's MAE
recipe with EHM's mask; 30 iterations of the toy config lower the loss."""
import glob
import math
import os.path as osp

import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import DATASETS, MODELS

from conftest import REPO, train_iterations
from maskssl.analysis.benchmark import rescale_crops

CONFIG_DIR = osp.join(REPO, 'configs', 'ehm')
# EHM's MAE; ehm-simmim_* and ehm-beit_* have their own tests
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, 'ehm-mae*.py')))
VIT_B = osp.join(CONFIG_DIR,
                 'ehm-mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
VIT_S = osp.join(CONFIG_DIR,
                 'ehm-mae_vit-small-p16_8xb512-amp-coslr-100e_in1k.py')
TOY = osp.join(CONFIG_DIR, 'ehm-mae_vit-tiny-p4_1xb32-coslr-10e_toy.py')
TOY_RANDOM = osp.join(CONFIG_DIR,
                      'ehm-mae_vit-tiny-p4_1xb32-coslr-10e_toy-randommask.py')
MMPRETRAIN_MAE = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'mae',
    'mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
TINY_ARCH = dict(embed_dims=32, num_layers=6, num_heads=2,
                 feedforward_channels=64)
TINY_IMG, TINY_PATCH = 64, 8


def _tiny(cfg: Config) -> None:
    """A 6-block 32-d ViT on 8-px patches at 64 px and a 1-block decoder in
    place of ViT-B/S; the 224-px crop scaled to 64 px."""
    grid = TINY_IMG // TINY_PATCH
    model = cfg.model
    model.backbone.arch = TINY_ARCH
    model.backbone.update(img_size=TINY_IMG, patch_size=TINY_PATCH)
    model.neck.update(num_patches=grid * grid, patch_size=TINY_PATCH,
                      embed_dim=TINY_ARCH['embed_dims'], decoder_embed_dim=16,
                      decoder_depth=1, decoder_num_heads=2)
    model.head.patch_size = TINY_PATCH
    rescale_crops(cfg.train_dataloader.dataset.pipeline, TINY_IMG / 224)


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {
        osp.basename(p) for p in (VIT_B, VIT_S, TOY, TOY_RANDOM)
    } | {
        f'ehm-mae-{kind}mask_vit-small-p16_8xb512-amp-coslr-100e_in1k.py'
        for kind in ('random', 'grid', 'block')
    } == names


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)
                                               for p in CONFIGS])
def test_config_trains_one_step(path, toy_root):
    cfg = Config.fromfile(path)
    assert cfg.model.type == 'EHMMAE'
    assert cfg.model.backbone.type == 'TokenMaskMAEViT'
    if 'toy' not in path:
        _tiny(cfg)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = toy_root
    cfg.model.data_preprocessor = cfg.data_preprocessor
    dataset = DATASETS.build(dataset_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = dict(cfg.optim_wrapper, type='OptimWrapper')  # AMP: no GPU
    optim.pop('loss_scale', None)
    optim_wrapper = build_optim_wrapper(model, optim)
    data = default_collate([dataset[i] for i in range(4)])
    size = cfg.model.backbone.img_size
    assert data['inputs'].shape == (4, 3, size, size)
    before = [p.detach().clone() for p in model.backbone.parameters()]
    log_vars = model.train_step(data, optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    assert any(not torch.equal(a, b)
               for a, b in zip(before, model.backbone.parameters()))


def test_vit_b_is_mmpretrains_mae_recipe_with_ehm():
    ours, mae = Config.fromfile(VIT_B), Config.fromfile(MMPRETRAIN_MAE)
    assert ours.optim_wrapper == mae.optim_wrapper
    assert ours.optim_wrapper.optimizer.lr == pytest.approx(2.4e-3)
    assert ours.param_scheduler == mae.param_scheduler
    assert ours.train_cfg == mae.train_cfg
    assert ours.auto_scale_lr == mae.auto_scale_lr
    assert ours.train_dataloader.batch_size == 512
    # the same views; maskssl's loader names the file it cannot read
    assert ours.train_dataloader.dataset.pipeline[0].type == \
        'CheckedLoadImageFromFile'
    assert ours.train_dataloader.dataset.pipeline[1:] == \
        mae.train_dataloader.dataset.pipeline[1:]
    assert ours.data_preprocessor == mae.data_preprocessor
    neck = dict(ours.model.neck)
    assert neck.pop('num_patches') == 14 * 14
    assert neck == mae.model.neck
    assert ours.model.head == mae.model.head
    assert ours.model.init_cfg == mae.model.init_cfg
    assert ours.model.backbone.arch == mae.model.backbone.arch == 'b'
    assert ours.model.masker == dict(type='EvolvedHierarchicalMasker',
                                     mask_ratio=0.75, depth='evolved')
    assert ours.model.attention_layers == 6


def test_vit_s_is_the_vit_b_config_with_deit_small_for_100_epochs():
    small, base = Config.fromfile(VIT_S), Config.fromfile(VIT_B)
    model = MODELS.build(small.model)
    assert (model.backbone.embed_dims, len(model.backbone.layers),
            model.backbone.layers[0].attn.num_heads) == (384, 12, 6)
    assert small.model.neck.embed_dim == 384
    assert small.train_cfg.max_epochs == 100
    warmup, cosine = small.param_scheduler
    assert (warmup.end, cosine.begin, cosine.end, cosine.T_max) == (
        40, 40, 100, 60)
    for key in ('optim_wrapper', 'train_dataloader', 'auto_scale_lr'):
        assert small[key] == base[key], key
    assert small.model.masker == base.model.masker
    assert small.model.attention_layers == base.model.attention_layers


def test_toy_configs_differ_only_in_the_masker():
    ehm, random = Config.fromfile(TOY), Config.fromfile(TOY_RANDOM)
    assert ehm.model.masker.type == 'EvolvedHierarchicalMasker'
    assert random.model.masker == dict(type='FixedRatioMasker',
                                       mask_ratio=0.75)
    ehm.model.pop('masker')
    random.model.pop('masker')
    assert ehm.to_dict() == random.to_dict()


def test_toy_config_sizes():
    cfg = Config.fromfile(TOY)
    backbone = cfg.model.backbone
    grid = backbone.img_size // backbone.patch_size
    assert grid == 8 and cfg.model.neck.num_patches == grid * grid
    assert cfg.knn.img_size == backbone.img_size
    assert cfg.model.attention_layers * 2 == backbone.arch.num_layers
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.train_cfg.max_epochs == 10
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # CPU
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, cosine.begin, cosine.end) == (1, 1, 10)


@pytest.mark.slow
def test_thirty_iterations_lower_the_loss(tmp_path, toy_root):
    curves = train_iterations(TOY, str(tmp_path), toy_root)
    assert set(curves) == {'loss'}
    loss = curves['loss']
    assert len(loss) == 30 and np.isfinite(loss).all()
    assert loss[-5:].mean() < 0.8 * loss[:5].mean()
