"""EHM's ViT-S ablations (Tables I-V, Sec. V-C) as configs with
``--cfg-options``: the table below is the one configs/ehm/README.md shows
(checked cell by cell), every row loads through maskssl's config loader as
tools/train.py merges it, yields the masker, ratio, depth and schedule its
Setting names, and each distinct model among the rows runs one training
step with a tiny ViT substituted."""
import math
import os.path as osp
import re

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS

from conftest import REPO
from readme_tables import ablation_rows, parse_cfg_options
from maskssl.analysis.benchmark import synthetic_batch
from maskssl.launch.config_checks import find_unknown_cfg_keys
from maskssl.launch.prepare import load_config

CONFIG_DIR = osp.join(REPO, 'configs', 'ehm')
README = osp.join(CONFIG_DIR, 'README.md')
EHM = 'ehm-mae_vit-small-p16_8xb512-amp-coslr-100e_in1k.py'
CONFIGS = {
    'EHM': EHM,
    'random': 'ehm-mae-randommask_vit-small-p16_8xb512-amp-coslr-100e_in1k.py',
    'grid': 'ehm-mae-gridmask_vit-small-p16_8xb512-amp-coslr-100e_in1k.py',
    'block': 'ehm-mae-blockmask_vit-small-p16_8xb512-amp-coslr-100e_in1k.py',
}
MASKERS = {'EHM': 'EvolvedHierarchicalMasker', 'random': 'FixedRatioMasker',
           'grid': 'GridMasker', 'block': 'BlockMasker'}
WARMUP_EPOCHS = 40  # MAE's, at every length
NONE = '-'


def _epochs(epochs: int) -> str:
    """The options that set the schedule to ``epochs`` (the base is 100):
    the loop and the end of the cosine after the 40 warm-up epochs."""
    if epochs == 100:
        return ''
    return (f'train_cfg.max_epochs={epochs} param_scheduler.1.T_max='
            f'{epochs - WARMUP_EPOCHS} param_scheduler.1.end={epochs}')


def _options(*parts: str) -> str:
    return ' '.join(p for p in parts if p)


def _row(table, setting, kind, options, top1, miou, box=NONE,
         retrieval=NONE):
    return {'Table': table, 'Setting': setting, 'Config': CONFIGS[kind],
            'Options': options, 'Paper top-1': top1, 'Paper mIoU': miou,
            'Paper AP-box': box, 'Paper retrieval': retrieval}


# Table I: (epochs, kind) -> ImageNet fine-tune top-1, ADE20K mIoU, COCO
# AP-box (Mask R-CNN)
TABLE_I = {
    (100, 'grid'): ('78.28', '36.65', '36.11'),
    (100, 'random'): ('78.11', '37.60', '32.70'),
    (100, 'block'): ('77.85', '36.02', '31.78'),
    (100, 'EHM'): ('78.29', '37.82', '34.62'),
    (200, 'grid'): ('78.63', '36.67', '36.21'),
    (200, 'random'): ('79.20', '38.81', '34.42'),
    (200, 'block'): ('78.55', '36.65', '33.15'),
    (200, 'EHM'): ('79.92', '39.78', '36.51'),
    (400, 'grid'): ('79.11', '36.78', '35.19'),
    (400, 'random'): ('79.42', '39.43', '35.21'),
    (400, 'block'): ('79.29', '40.67', '35.08'),
    (400, 'EHM'): ('80.41', '41.37', '37.45'),
    (800, 'grid'): ('79.34', '36.54', '34.62'),
    (800, 'random'): ('79.77', '39.31', '38.73'),
    (800, 'block'): ('79.69', '41.81', '38.91'),
    (800, 'EHM'): ('80.72', '42.02', '39.16'),
}
# Table II: (ratio, kind) -> top-1, mIoU; 300 epochs (see the README)
TABLE_II = {
    (0.25, 'random'): ('77.19', '36.23'), (0.25, 'EHM'): ('78.96', '38.14'),
    (0.5, 'random'): ('79.02', '38.56'), (0.5, 'EHM'): ('79.84', '39.11'),
    (0.75, 'random'): ('79.35', '39.24'), (0.75, 'EHM'): ('80.06', '40.59'),
}

ROWS = [
    _row('I', f'{kind}, {epochs} epochs', kind, _epochs(epochs), *cells)
    for (epochs, kind), cells in TABLE_I.items()
] + [
    _row('II', f'{kind}, ratio {ratio}, 300 epochs', kind,
         _options(_epochs(300), f'model.masker.mask_ratio={ratio}'), *cells)
    for (ratio, kind), cells in TABLE_II.items()
] + [
    _row('III', 'large block, 400 epochs', 'block', _epochs(400), '77.89',
         '37.16'),
    _row('III', 'EHM only deep (depth 0.8), 400 epochs', 'EHM',
         _options(_epochs(400), 'model.masker.depth=0.8'), '78.76', '39.01'),
    _row('III', 'grid-like, 400 epochs', 'grid', _epochs(400), '73.16',
         '32.16'),
    _row('III', 'EHM only shallow (depth 0.2), 400 epochs', 'EHM',
         _options(_epochs(400), 'model.masker.depth=0.2'), '79.05', '39.86'),
    _row('IV', 'EHM only shallow (depth 0.2), 400 epochs', 'EHM',
         _options(_epochs(400), 'model.masker.depth=0.2'), '79.05', '39.86',
         retrieval='57.11'),
    _row('IV', 'EHM only deep (depth 0.8), 400 epochs', 'EHM',
         _options(_epochs(400), 'model.masker.depth=0.8'), '78.76', '39.01',
         retrieval='55.07'),
    _row('IV', 'EHM evolved, 400 epochs', 'EHM', _epochs(400), '80.41',
         '41.37', retrieval='57.41'),
    _row('V', 'EHM, 1600 epochs', 'EHM', _epochs(1600), '81.41', '42.79',
         '40.85'),
    _row('V', 'EHM, 2400 epochs', 'EHM', _epochs(2400), '81.55', '42.94',
         '41.08'),
]
# A ViT of 6 blocks (the configs' attention_layers=6 stays valid) on an
# 8 x 8 grid of 8-px patches at 64 px (BEiT's blocks of at least 16 patches
# fit).
TINY_ARCH = dict(embed_dims=32, num_layers=6, num_heads=2,
                 feedforward_channels=64)
TINY_IMG, TINY_PATCH = 64, 8


def _row_id(row: dict) -> str:
    return f"table{row['Table']}-" + re.sub(r'[^a-z0-9.]+', '_',
                                            row['Setting'].lower())


def _load(row: dict):
    path = osp.join(CONFIG_DIR, row['Config'])
    options = parse_cfg_options(row['Options'])
    return load_config(path), load_config(path, options), options


def _tiny(model_cfg) -> None:
    """Substitute the tiny ViT and MAE decoder in a ViT-S model config."""
    grid = TINY_IMG // TINY_PATCH
    model_cfg.backbone.arch = TINY_ARCH
    model_cfg.backbone.update(img_size=TINY_IMG, patch_size=TINY_PATCH)
    model_cfg.neck.update(num_patches=grid * grid, patch_size=TINY_PATCH,
                          embed_dim=TINY_ARCH['embed_dims'],
                          decoder_embed_dim=16, decoder_depth=1,
                          decoder_num_heads=2)
    model_cfg.head.patch_size = TINY_PATCH


def test_readme_table_is_this_table():
    assert ablation_rows(README) == ROWS


def test_table_covers_the_papers_ablations():
    tables = [row['Table'] for row in ROWS]
    assert {t: tables.count(t) for t in set(tables)} == {
        'I': 16, 'II': 6, 'III': 4, 'IV': 3, 'V': 2}
    assert len({_row_id(row) for row in ROWS}) == len(ROWS)
    for row in ROWS:
        assert osp.isfile(osp.join(CONFIG_DIR, row['Config'])), row['Config']
        assert 0 < float(row['Paper top-1']) < 100
        assert 0 < float(row['Paper mIoU']) < 100
    # Table IV's evolved row is Table I's 400-epoch EHM cell
    by_id = {_row_id(row): row for row in ROWS}
    evolved, ehm_400 = by_id['tableIV-ehm_evolved_400_epochs'], by_id[
        'tableI-ehm_400_epochs']
    assert (evolved['Paper top-1'], evolved['Paper mIoU'], evolved[
        'Options']) == (ehm_400['Paper top-1'], ehm_400['Paper mIoU'],
                        ehm_400['Options'])


def test_epoch_options_hand_written():
    assert _epochs(100) == ''
    assert parse_cfg_options(_epochs(400)) == {
        'train_cfg.max_epochs': 400, 'param_scheduler.1.T_max': 360,
        'param_scheduler.1.end': 400}


@pytest.mark.parametrize('row', ROWS, ids=[_row_id(row) for row in ROWS])
def test_ablation_row_sets_what_it_names(row):
    base, cfg, options = _load(row)
    assert not find_unknown_cfg_keys(base, options)
    setting = row['Setting']
    kind = next(k for k in ('EHM', 'random', 'grid', 'block')
                if k in setting)
    assert row['Config'] == CONFIGS[kind]
    masker = MODELS.build(cfg.model.masker)
    assert type(masker).__name__ == MASKERS[kind]
    numbers = dict(re.findall(r'(ratio|depth) ([\d.]+)', setting))
    if kind in ('EHM', 'random', 'block'):
        assert masker.mask_ratio == pytest.approx(
            float(numbers.get('ratio', 0.75)))
    else:  # one of every 2 x 2 kept: 75%
        assert masker.cell == 2
    if kind == 'EHM':
        expected = float(numbers['depth']) if 'depth' in numbers \
            else 'evolved'
        assert masker.depth == expected
    assert cfg.model.attention_layers == 6
    epochs = int(re.search(r'(\d+) epochs', setting).group(1))
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, WARMUP_EPOCHS)
    assert (cosine.begin, cosine.end, cosine.T_max) == (
        WARMUP_EPOCHS, epochs, epochs - WARMUP_EPOCHS)
    assert cfg.model.backbone.arch == 'deit-small'


def _model_options(row: dict) -> str:
    """The row's options that change the model (not the schedule)."""
    return ' '.join(o for o in row['Options'].split()
                    if o.startswith('model.'))


# one training step per distinct model: rows that differ only in their
# schedule build the same model and take the same first step
STEP_ROWS = list({(row['Config'], _model_options(row)): row
                  for row in ROWS}.values())


def test_step_rows_cover_every_model():
    assert len(STEP_ROWS) == 12
    assert {(r['Config'], _model_options(r)) for r in STEP_ROWS} == {
        (r['Config'], _model_options(r)) for r in ROWS}


@pytest.mark.parametrize('row', STEP_ROWS,
                         ids=[_row_id(row) for row in STEP_ROWS])
def test_ablation_model_trains_one_step(row):
    _, cfg, _ = _load(row)
    _tiny(cfg.model)
    cfg.model.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = dict(cfg.optim_wrapper, type='OptimWrapper')  # AMP: no GPU
    optim.pop('loss_scale', None)
    optim_wrapper = build_optim_wrapper(model, optim)
    data = synthetic_batch(cfg, 2, img_size=TINY_IMG)
    before = [p.detach().clone() for p in model.backbone.parameters()]
    log_vars = model.train_step(data, optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    assert any(not torch.equal(a, b)
               for a, b in zip(before, model.backbone.parameters()))
