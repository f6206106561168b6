"""tools/analysis/benchmark_mst.py on a tiny setting: the variants switch off
exactly the masker and/or the decoder, the rows compare each with plain DINO
(the decoder's FLOPs against a hand count, the masker's none), and the step
breakdown finds each part once per step with shares in [0, 1] that sum to at
most 1; the tool's JSON holds all of it."""
import copy
import importlib.util
import json
import math
import os.path as osp
import sys

import pytest

from conftest import REPO
from maskssl.launch import load_config

spec = importlib.util.spec_from_file_location(
    'benchmark_mst', osp.join(REPO, 'tools/analysis/benchmark_mst.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

IMG = 48  # global crops; the local ones scale to round(96 * 48 / 224) = 21
PATCH = 8
EMBED = 48
DECODER = (16, 8, 4)  # 2 ** 3 = PATCH
BATCH = 2
NUM_LOCAL = 2


def tiny(cfg):
    """A 2-block 48-d ViT on 8-px patches, a small projection head and a
    3-stage decoder; the config's AMP kept (the tool drops it on CPU)."""
    cfg = copy.deepcopy(cfg)
    model = cfg.model
    model.backbone.update(
        arch=dict(embed_dims=EMBED, num_layers=2, num_heads=3,
                  feedforward_channels=2 * EMBED),
        patch_size=PATCH, img_size=IMG)
    model.neck.update(in_channels=EMBED, out_channels=64, hidden_channels=32,
                      bottleneck_channels=16)
    model.head.out_channels = 64
    model.decoder.update(in_channels=EMBED, channels=DECODER)
    return cfg


@pytest.fixture(scope='module')
def config():
    return tiny(load_config(osp.join(REPO, tool.MST)))


def decoder_macs(grid, in_channels, channels, out_channels=3):
    """Multiply-adds of one decoder forward on one image, by hand: each 3x3
    conv at its stage's resolution (the grid doubling after each stage),
    then the 3x3 conv to the image."""
    h, w = grid
    total = 0
    c_in = in_channels
    for c_out in channels:
        total += 9 * c_in * c_out * h * w
        h, w = 2 * h, 2 * w
        c_in = c_out
    return total + 9 * c_in * out_channels * h * w


def test_variants_leave_the_config_alone(config):
    six = tool.with_local_crops(config, 6)
    assert six.train_dataloader.dataset.pipeline[1].num_views == [1, 1, 6]
    assert tool.view_counts(six) == (2, 6)
    assert tool.view_counts(config) == (2, 8)  # DINO's default, untouched
    cfgs = tool.comparison_configs(config)
    assert list(cfgs) == [tool.FULL, tool.DECODER_ONLY, tool.MASKER_ONLY,
                          tool.DINO]
    switched = {name: (c.model.masker is None, c.model.decoder is None)
                for name, c in cfgs.items()}
    assert switched == {tool.FULL: (False, False),
                        tool.DECODER_ONLY: (True, False),
                        tool.MASKER_ONLY: (False, True),
                        tool.DINO: (True, True)}
    assert config.model.masker.type == 'AttentionGuidedMasker'
    assert config.model.decoder.type == 'GlobalImageDecoder'
    with pytest.raises(ValueError, match='expected an MST config with a '
                       'masker and a decoder'):
        tool.variant(cfgs[tool.DINO])
    with pytest.raises(ValueError, match='num_local=-1'):
        tool.with_local_crops(config, -1)
    no_local = copy.deepcopy(config)
    no_local.train_dataloader.dataset.pipeline[1].roles = [
        'global', 'global', 'global']
    with pytest.raises(ValueError, match="last group is the 'local'"):
        tool.with_local_crops(no_local, 6)
    amp = load_config(osp.join(REPO, tool.MST))
    assert amp.optim_wrapper.type == 'AmpOptimWrapper'
    plain = tool.without_amp(amp).optim_wrapper
    assert plain.type == 'OptimWrapper' and 'loss_scale' not in plain
    assert plain.optimizer == amp.optim_wrapper.optimizer
    assert plain.clip_grad == amp.optim_wrapper.clip_grad


def test_bad_options_are_named(monkeypatch):
    for argv, message in ((['--iters', '0'], '--iters=0'),
                          (['--num-local', '-2'], '--num-local=-2')):
        monkeypatch.setattr(sys, 'argv', ['benchmark_mst.py'] + argv)
        with pytest.raises(ValueError, match=message):
            tool.check_args(tool.parse_args())


@pytest.fixture(scope='module')
def report(config, tmp_path_factory):
    """The tool's JSON (and printed tables) of one tiny run on CPU."""
    path = str(tmp_path_factory.mktemp('bench') / 'mst.json')
    argv = ['benchmark_mst.py', '--batch-size', str(BATCH), '--img-size',
            str(IMG), '--num-local', str(NUM_LOCAL), '--iters', '2',
            '--warmup', '1', '--device', 'cpu', '--out', path]
    with pytest.MonkeyPatch.context() as mp:
        # the tiny model in place of the ViT-S/16 config
        mp.setattr(tool, 'load_config', lambda _: copy.deepcopy(config))
        mp.setattr(sys, 'argv', argv)
        tool.main()
    with open(path) as f:
        return json.load(f)


def test_rows(report):
    assert report['num_local'] == NUM_LOCAL
    assert report['precision'] == "fp32 (the config's AMP needs CUDA)"
    rows = report['rows']
    assert [r['comparison'] for r in rows] == [
        f'{name} vs {tool.DINO}'
        for name in (tool.FULL, tool.DECODER_ONLY, tool.MASKER_ONLY)]
    for row in rows:
        test, base = row['test'], row['baseline']
        assert base['name'] == tool.DINO and base['time_ratio'] == 1.0
        for key in ('time_ratio', 'flop_ratio', 'time_over_flop'):
            assert math.isfinite(test[key]) and test[key] > 0, row
        assert test['time_ratio'] == pytest.approx(
            test['ms_per_step'] / base['ms_per_step'])
    full, decoder, masker = (r['test'] for r in rows)
    dino = rows[0]['baseline']
    # the decoder runs forward and backward (about 3 forwards) on both
    # global views; the L1 loss, BN and up-sampling count no multiply-adds
    grid = (IMG // PATCH, IMG // PATCH)
    added = 3 * 2 * decoder_macs(grid, EMBED, DECODER) / 1e9
    assert decoder['train_gflops_per_img'] - dino['train_gflops_per_img'] \
        == pytest.approx(added, rel=0.02)
    assert full['train_gflops_per_img'] - masker['train_gflops_per_img'] \
        == pytest.approx(added, rel=0.02)
    # the masker reads the attention of the teacher's existing forward and
    # [MASK] replaces tokens: no FLOPs added. The teacher's last block,
    # written out as matmuls to return its attention, counts as much as the
    # fused kernel it replaces, which the harness counts on CPU too.
    assert report['fused_attention_counted'] is True
    assert masker['train_gflops_per_img'] == pytest.approx(
        dino['train_gflops_per_img'], abs=1e-9)
    assert full['flop_ratio'] >= decoder['flop_ratio'] > 1


def test_breakdown(report):
    b = report['breakdown']
    assert b['step_ms'] > 0
    for key, _ in tool.PARTS:
        assert 0 < b[f'{key}_share'] <= 1, b
        assert b[f'{key}_share'] == pytest.approx(b[f'{key}_ms'] /
                                                  b['step_ms'])
    assert sum(b[f'{key}_share'] for key, _ in tool.PARTS) <= 1
    # one teacher forward (both global views), one mask, one decoder
    # forward and one loss per step
    assert b['calls_per_step'] == {key: 1 for key, _ in tool.PARTS}


def test_breakdown_of_dino_leaves_the_model_as_it_was(config):
    dino = tool.variant(tool.without_amp(config), masker=False,
                        decoder=False)
    b = tool.step_breakdown(dino, BATCH, IMG, 'cpu', iters=1, warmup=0)
    assert b['calls_per_step'] == dict(masker=0, decoder=0, restore_loss=0,
                                       teacher=1)
    assert b['masker_share'] == b['decoder_share'] == 0
    assert 0 < b['teacher_share'] < 1


def test_tables(report):
    rows = tool.comparison_markdown(report['rows'])
    assert rows.count('\n| ') == 1 + 3  # separator + 3 rows
    assert 'time / FLOP' in rows
    table = tool.format_breakdown(report['breakdown'])
    for _, label in tool.PARTS:
        assert label in table
    assert table.splitlines()[-1].startswith('| whole step |')
