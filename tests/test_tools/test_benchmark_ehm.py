"""tools/analysis/benchmark_ehm.py on a tiny ViT: one comparison row per L
whose FLOP ratio is the attention pass's hand count over MAE's step, a
breakdown whose parts are found once per step and fit inside it, the tree
build against MAE's step, clear errors for bad options; and the shared part
timers (maskssl.analysis.breakdown) record only the outermost call and put
back what they wrapped."""
import contextlib
import importlib.util
import io
import json
import math
import os.path as osp
import types

import pytest

from conftest import REPO
from maskssl.analysis import PartTimers
from maskssl.launch import load_config
from maskssl.models.maskers import evolved_hierarchical_masker, hierarchy

spec = importlib.util.spec_from_file_location(
    'benchmark_ehm', osp.join(REPO, 'tools/analysis/benchmark_ehm.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

EMBED, BLOCKS, HEADS = 32, 2, 2
IMG, PATCH = 32, 8  # N = 16 patches
BATCH = 2
LAYERS = (1, 2)
ARGV = ['--arch', f'{EMBED}-{BLOCKS}-{HEADS}', '--decoder', '16-1-2',
        '--img-size', str(IMG), '--patch-size', str(PATCH), '--batch-size',
        str(BATCH), '--steps', '1', '--warmup', '0', '--layers',
        *map(str, LAYERS), '--tree-batch', str(BATCH), '--tree-reps', '1',
        '--device', 'cpu']


def attention_pass_macs(num_layers, tokens, dims, ffn):
    """Multiply-adds of the attention pass on one image, by hand, block by
    block: q, k, v and the output projection (4 T C^2), the two (T x T)
    attention matmuls over all heads (2 T^2 C) and the feed-forward
    (2 T C F), but only q, k (of the qkv projection, 3 T C^2) and Q K^T
    (T^2 C) in the last block, whose weights are all the pass needs;
    norms, softmax and GELU count none."""
    total = 0
    for _ in range(num_layers - 1):
        total += 4 * tokens * dims * dims
        total += 2 * tokens * tokens * dims
        total += 2 * tokens * dims * ffn
    return total + 3 * tokens * dims * dims + tokens * tokens * dims


@pytest.fixture(scope='module')
def mae():
    return tool.mae_config(load_config(tool.MAE), f'{EMBED}-{BLOCKS}-{HEADS}',
                           IMG, PATCH, '16-1-2')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """The tool's JSON and printed text of one tiny run on CPU."""
    path = str(tmp_path_factory.mktemp('bench') / 'ehm.json')
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        returned = tool.main(ARGV + ['--json', path])
    with open(path) as f:
        report = json.load(f)
    assert report['rows'] == json.loads(json.dumps(returned['rows']))
    return report, text.getvalue()


@pytest.mark.parametrize('argv, message', [
    (['--layers', '2', '3'], r'--layers 3: .* has 2; expected L <= 2'),
    (['--layers', '0'], r'--layers=0'),
    (['--steps', '0'], r'--steps=0'),
    (['--img-size', '36'], r'--img-size=36 is not a multiple of '
     r'--patch-size=8'),
    (['--arch', 'huge-ish'], r"--arch='huge-ish'; expected a name"),
    (['--arch', '30-2-4'], r'30 embed dims do not split into 4 heads'),
    (['--decoder', '16-1'], r"--decoder='16-1'; expected 'D-L-H'"),
])
def test_bad_options_are_named(argv, message):
    args = tool.parse_args(ARGV + argv)
    with pytest.raises(ValueError, match=message):
        tool.check_args(args)


def test_configs(mae):
    assert tool.arch_settings('b') == dict(
        embed_dims=768, num_layers=12, num_heads=12,
        feedforward_channels=3072)
    model = mae.model
    assert (model.type, model.backbone.type) == ('MAE', 'MAEViT')
    assert model.backbone.arch['embed_dims'] == model.neck.embed_dim == EMBED
    assert model.neck.num_patches == (IMG // PATCH)**2
    assert model.head.patch_size == model.backbone.patch_size == PATCH
    assert (model.neck.decoder_embed_dim, model.neck.decoder_depth) == (16, 1)
    cfgs = tool.comparison_configs(mae, LAYERS)
    assert list(cfgs) == [tool.ehm_name(n) for n in LAYERS] + [tool.MAE_NAME]
    for n in LAYERS:
        ehm = cfgs[tool.ehm_name(n)].model
        assert (ehm.type, ehm.backbone.type) == ('EHMMAE', 'TokenMaskMAEViT')
        assert ehm.masker == dict(type='EvolvedHierarchicalMasker',
                                  mask_ratio=0.75)
        assert ehm.attention_layers == n
        # the same decoder and head as MAE's
        assert ehm.neck == model.neck and ehm.head == model.head
    assert 'masker' not in mae.model  # the copies left MAE alone
    with pytest.raises(ValueError, match='expected an MAE config'):
        tool.mae_config(cfgs[tool.ehm_name(1)])


def test_rows(run):
    report, text = run
    rows = report['rows']
    assert [r['comparison'] for r in rows] == [
        f'{tool.ehm_name(n)} vs {tool.MAE_NAME}' for n in LAYERS]
    for row in rows:
        test, base = row['test'], row['baseline']
        assert base['name'] == tool.MAE_NAME and base['time_ratio'] == 1.0
        for key in ('time_ratio', 'flop_ratio', 'time_over_flop'):
            assert math.isfinite(test[key]) and test[key] > 0, row
        assert test['time_ratio'] == pytest.approx(
            test['ms_per_step'] / base['ms_per_step'])
    # one markdown row per L
    lines = [line for line in text.splitlines()
             if line.startswith('| EHM-MAE, L=')]
    assert len(lines) == len(LAYERS)


def test_attention_pass_flops(run):
    """The EHM step adds exactly the attention pass to MAE's FLOPs (the same
    visible count, encoder, decoder and head), and the pass is the hand
    count of L blocks over the class token and all 16 patches."""
    report, _ = run
    mae_train = report['rows'][0]['baseline']['train_gflops_per_img']
    for n, row in zip(LAYERS, report['rows']):
        expected = attention_pass_macs(n, 1 + (IMG // PATCH)**2, EMBED,
                                       4 * EMBED) / 1e9
        b = report['breakdown'][str(n)]
        assert b['attention_gflops_per_img'] == pytest.approx(expected,
                                                              rel=1e-9)
        added = row['test']['train_gflops_per_img'] - mae_train
        assert added == pytest.approx(expected, rel=1e-6)
        assert row['test']['flop_ratio'] == pytest.approx(
            1 + expected / mae_train, rel=1e-6)


def test_breakdown(run):
    report, text = run
    for n in LAYERS:
        b = report['breakdown'][str(n)]
        parts = [b[f'{key}_ms'] for key, _ in tool.PARTS]
        assert all(p > 0 for p in parts), b
        assert sum(parts) <= b['step_ms']
        assert b['rest_ms'] == pytest.approx(b['step_ms'] - sum(parts))
        assert 0 <= b['rest_share'] < 1
        assert sum(b[f'{key}_share'] for key, _ in tool.PARTS) \
            + b['rest_share'] == pytest.approx(1)
        # one attention pass, one tree build and one mask_tree per step
        assert b['calls_per_step'] == dict(attention=1, tree=1,
                                           mask_generation=1)
    # the wrapped function is back
    assert evolved_hierarchical_masker.build_hierarchy is \
        hierarchy.build_hierarchy
    for _, label in tool.PARTS:
        assert label in text


def test_tree_build(run):
    report, text = run
    tree = report['tree']
    assert (tree['batch_size'], tree['num_patches']) == (BATCH, 16)
    # --tree-batch equals --batch-size: MAE's step of the comparison
    assert tree['mae_step_ms'] == report['rows'][0]['baseline'][
        'ms_per_step']
    assert tree['tree_ms'] > 0 and tree['masker_ms'] > 0
    assert tree['tree_share'] == pytest.approx(tree['tree_ms'] /
                                               tree['mae_step_ms'])
    assert f'Tree build, batch {BATCH}, N = 16' in text
    verdict = 'under' if tree['tree_share'] < 0.05 else 'NOT under'
    assert f'{verdict} the 5% target' in tool.format_tree(tree)


def test_mae_step_at_another_batch(mae):
    """--tree-batch other than --batch-size: MAE's own steps there."""
    assert tool.mae_step_ms(tool.without_amp(mae), 1, IMG, 'cpu', iters=1,
                            warmup=0) > 0


class Timers(PartTimers):
    """Times ``outer`` of a module-like namespace (which calls ``inner``,
    also timed) and a method of an instance."""

    def __init__(self, space, obj):
        super().__init__(['outer', 'inner', 'method'], 'cpu')
        self.space, self.obj = space, obj

    def patches(self):
        return [(self.space, 'outer', self.timed(self.space.outer, 'outer')),
                (self.space, 'inner', self.timed(self.space.inner, 'inner')),
                (self.obj, 'method', self.timed(
                    self.obj.method, lambda x: 'method' if x else 'outer'))]


def test_part_timers_record_outermost_calls_and_restore():
    space = types.SimpleNamespace()
    space.inner = lambda: 1
    space.outer = lambda: space.inner() + 1
    inner, outer = space.inner, space.outer

    class Thing:
        def method(self, x):
            return x

    thing = Thing()
    timers = Timers(space, thing)
    with timers.patched():
        assert space.outer is not outer and 'method' in vars(thing)
        assert space.outer() == 2  # inactive: nothing recorded
        timers.active = True
        assert space.outer() == 2  # inner runs inside outer: only outer
        assert space.inner() == 1
        assert thing.method(True) and not thing.method(False)
    assert timers.calls == dict(outer=2, inner=1, method=1)
    assert all(t > 0 for t in timers.totals.values())
    # the namespace's own functions are back, the instance uses its class's
    assert space.inner is inner and space.outer is outer
    assert 'method' not in vars(thing) and thing.method(3) == 3
