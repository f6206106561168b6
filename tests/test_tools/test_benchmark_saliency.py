"""tools/analysis/benchmark_saliency.py on a tiny setting: the comparison
rows are the configs they name (FLOP ratios of the passes each adds to MoCo
v2), and the step breakdown finds each part once per step with shares in
[0, 1] that sum to at most 1."""
import copy
import importlib.util
import os.path as osp

import pytest

from conftest import REPO
from maskssl.launch import load_config

spec = importlib.util.spec_from_file_location(
    'benchmark_saliency',
    osp.join(REPO, 'tools/analysis/benchmark_saliency.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

IMG = 64
BATCH = 4


def tiny(cfg):
    """A half-width ResNet-18 (and localisation network), small queue."""
    cfg = copy.deepcopy(cfg)
    cfg.model.queue_len = 64
    cfg.model.backbone.update(depth=18, base_channels=32)
    cfg.model.neck.update(in_channels=256, hid_channels=256)
    network = cfg.model.get('saliency', {}).get('network')
    if network:
        network.update(depth=18, base_channels=32)
    return cfg


@pytest.fixture(scope='module')
def configs():
    return (tiny(load_config(osp.join(REPO, tool.SALIENCY))),
            tiny(load_config(tool.MOCOV2)))


def test_variants_leave_the_config_alone(configs):
    base, _ = configs
    momentum = tool.momentum_source(base)
    assert momentum.model.saliency == dict(type='SCDASaliency',
                                           source='momentum')
    random = tool.random_network(base)
    assert random.model.saliency.network.init_cfg is None
    assert random.model.saliency.allow_random
    blur = tool.with_fill(base, 'blur')
    assert blur.model.fill.type == 'BlurFill'
    # the originals are untouched
    assert base.model.saliency.source == 'pretrained'
    assert base.model.saliency.network.init_cfg.type == 'Pretrained'
    assert base.model.fill.type == 'HighPassFill'
    with pytest.raises(ValueError, match="source='pretrained'"):
        tool.random_network(momentum)


def test_rows_and_breakdown(configs):
    base, mocov2 = configs
    groups = tool.comparison_groups(base, mocov2, fills=['blur'])
    rows = tool.run_rows(groups, iters=1, warmup=0, batch_size=BATCH,
                         img_size=IMG, device='cpu')
    by_name = {r['comparison']: r for r in rows}
    assert list(by_name) == [
        'SaliencyMoCoV2, momentum saliency vs MoCo v2',
        'SaliencyMoCoV2, separate ResNet saliency vs MoCo v2',
        'BlurFill (momentum saliency) vs HighPassFill (momentum saliency)',
    ]
    # MoCo v2: query forward + backward (~3 forwards) + key forward = 4;
    # momentum saliency adds the query's momentum forward and the hard
    # negative (6 / 4); a separate same-sized network adds two saliency
    # passes and the hard negative (7 / 4); the fills add little
    flops = {name: r['test']['flop_ratio'] for name, r in by_name.items()}
    momentum, separate, blur = flops.values()
    assert momentum == pytest.approx(6 / 4, rel=0.1)
    assert separate == pytest.approx(7 / 4, rel=0.1)
    assert blur == pytest.approx(1.0, abs=0.1)
    for row in rows:
        assert row['baseline']['time_ratio'] == 1.0
        assert row['test']['ms_per_step'] > 0
    table = tool.comparison_markdown(rows)
    assert table.count('\n| ') == 3 + 1  # separator + 3 rows
    assert 'time / FLOP' in table

    cfgs = tool.breakdown_configs(base, fills=['blur'])
    assert list(cfgs) == ['separate ResNet (config)', 'momentum saliency',
                          'momentum, BlurFill']
    assert cfgs['momentum, BlurFill'].model.saliency.source == 'momentum'
    breakdowns = {}
    for name, cfg in list(cfgs.items())[:2]:
        b = breakdowns[name] = tool.step_breakdown(
            cfg, BATCH, IMG, 'cpu', iters=1, warmup=0)
        shares = [b[f'{key}_share'] for key, _ in tool.PARTS]
        assert all(0 <= s <= 1 for s in shares), b
        assert sum(shares) <= 1
        assert b['masking_share'] == pytest.approx(
            sum(b[f'{k}_share'] for k in tool.MASKING))
        assert b['step_ms'] > 0
        calls = b['calls_per_step']
        # one hard negative, one key forward; the positive and the negative
        # each sample a mask and fill it; both views are high-passed
        assert calls['hard_negative'] == calls['key'] == 1
        assert calls['sample_mask'] == calls['fill'] == 2
        assert calls['input_transform'] == 2
        # the key view's and the query view's saliency (momentum: the
        # query's momentum forward is nested in it, not a key forward)
        assert calls['saliency'] == 2
    text = tool.format_breakdowns(breakdowns)
    assert 'hard-negative momentum forward' in text
    assert 'masking ops in all' in text
