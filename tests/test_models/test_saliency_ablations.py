"""Every ablation row of configs/saliency_mask/README.md (Tables 4, 6 and 8)
loads through maskssl's config loader with its --cfg-options, as
tools/train.py would merge them, and builds a model whose switches are the
row's; so do the README's positive-ratio options."""
import os.path as osp

import pytest
from mmpretrain.registry import MODELS

from conftest import REPO
from readme_tables import ablation_rows, parse_cfg_options
from maskssl.launch.config_checks import find_unknown_cfg_keys
from maskssl.launch.prepare import load_config

CONFIG_DIR = osp.join(REPO, 'configs', 'saliency_mask')
ROWS = ablation_rows(osp.join(CONFIG_DIR, 'README.md'))
FILLS = {'highpass': 'HighPassFill', 'blur': 'BlurFill', 'mean': 'MeanFill'}
SETTING_FILLS = {'High-pass': 'HighPassFill', 'Blurring': 'BlurFill',
                 'Mean': 'MeanFill'}
# the switches and their values in the ablation configs
SWITCHES = {
    'model.mask_branch': ('mask_branch', 'query'),
    'model.hard_negative': ('hard_negative', True),
    'model.fill.masker.saliency': ('fill.masker.saliency', True),
    'model.fill.masker.mask_non_salient':
    ('fill.masker.mask_non_salient', True),
}


def _row_id(row):
    setting = row['Setting'].split(' (')[0]
    for old, new in ((': ', '-'), (', ', '-'), (' ', '_'), ('✓', 'on'),
                     ('✗', 'off')):
        setting = setting.replace(old, new)
    return f"table{row['Table']}-{setting}"


def _attr(obj, dotted):
    for name in dotted.split('.'):
        obj = getattr(obj, name)
    return obj


def _build(path, options):
    """The model of ``path`` with ``options`` (``--cfg-options`` text),
    loaded as tools/train.py loads it, with a random localisation network
    (nothing is downloaded in tests). Every option key must exist in the
    config (a typo would silently add a new key)."""
    options = parse_cfg_options(options)
    assert not find_unknown_cfg_keys(load_config(path), options)
    cfg = load_config(path, options)
    saliency = cfg.model.get('saliency')
    if saliency and saliency.source == 'pretrained':
        saliency.network.init_cfg = None
        saliency.allow_random = True
    return MODELS.build(cfg.model), options


def test_ablation_table_found():
    assert len(ROWS) == 24
    tables = [row['Table'] for row in ROWS]
    assert {t: tables.count(t) for t in set(tables)} == {'4': 9, '6': 9,
                                                         '8': 6}
    assert len({_row_id(row) for row in ROWS}) == len(ROWS)
    for row in ROWS:
        assert osp.isfile(osp.join(CONFIG_DIR, row['Config'])), row['Config']
        assert row['Config'].endswith('_tinyin200.py'), row['Config']
        assert 0 < float(row['Top-1 (paper, TinyImageNet)']) < 100


@pytest.mark.parametrize('row', ROWS, ids=[_row_id(row) for row in ROWS])
def test_ablation_row_builds(row):
    model, options = _build(osp.join(CONFIG_DIR, row['Config']),
                            row['Options'])

    # the ablation setting: a fixed 15% positive ratio (Sec. 4.3), hard
    # negatives of 40-70% of the foreground, the row's fill
    assert model.fill.masker.alpha == (0.15, 0.15)
    assert model.fill.masker.beta == (0.4, 0.7)
    fill = next(f for key, f in FILLS.items()
                if row['Config'].startswith(f'saliency-mocov2-{key}_'))
    assert type(model.fill).__name__ == fill
    assert SETTING_FILLS[row['Setting'].split(':')[0]] == fill
    for key, (attr, default) in SWITCHES.items():
        assert _attr(model, attr) == options.get(key, default), key
    if 'model.saliency' in options:
        assert options['model.saliency'] is None
        assert model.saliency is None
        assert not model.fill.masker.saliency
    else:
        assert model.saliency.source == 'pretrained'

    # the switch each table varies, as its Setting names it
    setting = row['Setting']
    if row['Table'] == '4':
        # "our hard negative samples are not applied" (Sec. 4.3)
        assert not model.hard_negative
        assert model.mask_branch == 'query'
        assert ('saliency ✗' in setting) == (model.saliency is None)
        assert ('mask non-salient ✗' in setting) == (
            not model.fill.masker.mask_non_salient)
    elif row['Table'] == '6':
        assert model.hard_negative
        assert model.mask_branch == {'key only': 'key', 'both': 'both',
                                     'query only': 'query'}[
            setting.split(': mask ')[1].split(' (')[0]]
    else:
        assert model.mask_branch == 'query'
        assert model.hard_negative == ('negative' in setting)


@pytest.mark.parametrize('config,options,alpha', [
    ('saliency-mocov2-highpass_resnet50_4xb32-coslr-200e_tinyin200.py',
     'model.fill.masker.alpha="(0.05,0.25)"', (0.05, 0.25)),
    ('saliency-mocov2-mean_resnet50_4xb32-coslr-200e_in100.py',
     'model.fill.masker.alpha="(0.15,0.15)"', (0.15, 0.15)),
    ('saliency-simclr-blur_resnet50_4xb64-lars-coslr-200e_in100.py',
     'model.fill.masker.alpha="(0.15,0.15)" '
     'model.saliency=None model.fill.masker.saliency=False', (0.15, 0.15)),
])
def test_ratio_options(config, options, alpha):
    """The README's positive-ratio options, with the tuple syntax
    DictAction needs, on a TinyImageNet, an ImageNet-100 and a SimCLR
    config."""
    model, _ = _build(osp.join(CONFIG_DIR, config), options)
    assert model.fill.masker.alpha == alpha
    assert model.fill.masker.saliency == ('saliency=False' not in options)
