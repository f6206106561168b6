"""Every ablation row of configs/mst/README.md (Tables 4-6, App. J) loads
through maskssl's config loader with its --cfg-options, as tools/train.py
merges them, and yields the masker, decoder, head BN and loss weight its
Setting names."""
import os.path as osp
import re

import pytest
from mmpretrain.registry import MODELS

from conftest import REPO
from readme_tables import ablation_rows, parse_cfg_options
from maskssl.launch.config_checks import find_unknown_cfg_keys
from maskssl.launch.prepare import load_config

CONFIG_DIR = osp.join(REPO, 'configs', 'mst')
ROWS = ablation_rows(osp.join(CONFIG_DIR, 'README.md'))


def _row_id(row):
    return f"table{row['Table']}-" + re.sub(r'[^a-z0-9.]+', '_',
                                            row['Setting'].lower())


def test_ablation_table_found():
    tables = [row['Table'] for row in ROWS]
    assert {t: tables.count(t) for t in set(tables)} == {
        '4': 3, '5': 12, '6': 3, 'J': 4}
    assert len({_row_id(row) for row in ROWS}) == len(ROWS)
    for row in ROWS:
        assert osp.isfile(osp.join(CONFIG_DIR, row['Config'])), row['Config']
        assert 0 < float(row['Paper top-1']) < 100


@pytest.mark.parametrize('row', ROWS, ids=[_row_id(row) for row in ROWS])
def test_ablation_row_sets_what_it_names(row):
    options = parse_cfg_options(row['Options'])
    path = osp.join(CONFIG_DIR, row['Config'])
    assert not find_unknown_cfg_keys(load_config(path), options)
    model_cfg = load_config(path, options).model
    masker = (MODELS.build(model_cfg.masker)
              if model_cfg.masker is not None else None)
    setting = row['Setting']
    numbers = dict(re.findall(r'(num|p|lambda_2) ([\d.]+)', setting))
    if row['Table'] == '4':
        kind = {'no mask': None, 'random mask': 'RandomTokenMasker',
                'attention-guided': 'AttentionGuidedMasker'}[
                    setting.split(',')[0]]
        assert (type(masker).__name__ if masker else None) == kind
        assert model_cfg.decoder is not None
    if 'num' in numbers:
        assert type(masker).__name__ == 'AttentionGuidedMasker'
        assert masker.num == int(numbers['num'])
    if 'p' in numbers:
        assert masker.p == pytest.approx(float(numbers['p']))
    if row['Table'] == '6':
        dino = setting.startswith('DINO')
        assert (masker is None and model_cfg.decoder is None) == dino
        assert model_cfg.neck.use_bn == ('no BN' not in setting)
    else:
        assert model_cfg.neck.use_bn
    assert model_cfg.restore_weight == pytest.approx(
        float(numbers.get('lambda_2', 0.6)))
