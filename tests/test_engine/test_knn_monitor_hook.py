"""KNNMonitorHook: the same numbers as ``knn_evaluate``, no side effect on
the model or the random streams, recorded where the training log is; and
the same epoch-0 numbers from one process and from two (gloo)."""
import json
import os
import os.path as osp
import random
import re
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import LoggerHook
from mmengine.logging import MessageHub
from mmengine.visualization import Visualizer
from mmpretrain.registry import HOOKS, MODELS
from torch import nn

from conftest import PYTHON, REPO
from maskssl.engine.hooks import KNNMonitorHook
from maskssl.evaluation import (build_cls_data_preprocessor, knn_dataloader,
                                knn_evaluate)

# not ImageNet's, so that a hook ignoring the config would be caught
PREPROCESSOR = dict(type='SelfSupDataPreprocessor', mean=[100., 110., 120.],
                    std=[50., 60., 70.], to_rgb=False)


class _Model(nn.Module):
    """A self-supervised model's layout: ``backbone`` plus a neck."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = MODELS.build(dict(type='ResNet', depth=18))
        self.backbone.init_weights()
        self.neck = nn.Sequential(nn.Linear(512, 8), nn.BatchNorm1d(8))


def _runner(tmp_path, model, epoch=0, max_epochs=3):
    """The parts of a Runner the hook uses: a real message hub, a visualiser
    with a LocalVisBackend and a LoggerHook writing ``run.json``."""
    logger_hook = LoggerHook()
    logger_hook.json_log_path = 'run.json'
    name = f'knn_test_{tmp_path.name}'
    return SimpleNamespace(
        model=model, epoch=epoch, iter=7 * epoch, max_epochs=max_epochs,
        cfg=Config(dict(model=dict(data_preprocessor=PREPROCESSOR))),
        message_hub=MessageHub(name),
        visualizer=Visualizer(name, save_dir=str(tmp_path / 'vis'),
                              vis_backends=[dict(type='LocalVisBackend')]),
        logger=SimpleNamespace(lines=[], info=None), hooks=[logger_hook])


def _with_log(runner):
    runner.logger.info = runner.logger.lines.append
    return runner


def _rng_state():
    return (random.getstate(), np.random.get_state()[1].tolist(),
            torch.get_rng_state())


def test_metrics_equal_knn_evaluate_and_model_untouched(tmp_path, toy_root):
    model = _Model()
    # a mixed pattern of training flags, which must come back as it was
    model.train()
    model.backbone.layer1.eval()
    model.backbone.layer3[0].bn1.eval()
    model.neck[1].eval()
    flags = {name: m.training for name, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    runner = _with_log(_runner(tmp_path, nn.DataParallel(model)))

    hook = HOOKS.build(dict(type='KNNMonitorHook', data_root=toy_root,
                            img_size=32, k=[5, 20], batch_size=16,
                            num_workers=0))
    rng = _rng_state()
    hook.before_train(runner)

    # no side effect: flags per module, weights and BN statistics, grads,
    # the global random streams (loaders draw seeds from them)
    assert {n: m.training for n, m in model.named_modules()} == flags
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert all(p.grad is None for p in model.parameters())
    after = _rng_state()
    assert after[0] == rng[0] and after[1] == rng[1]
    assert torch.equal(after[2], rng[2])

    # the same numbers as the offline evaluation of the same backbone
    loaders = [knn_dataloader(toy_root, split, 32, batch_size=16,
                              num_workers=0) for split in ('train', 'val')]
    expected = knn_evaluate(model.backbone,
                            build_cls_data_preprocessor(PREPROCESSOR),
                            *loaders, ks=[5, 20], temperature=0.07)
    assert set(expected) == {'k5_top1', 'k5_top5', 'k20_top1', 'k20_top5'}
    hub = runner.message_hub
    for name, value in expected.items():
        assert hub.get_scalar(f'knn/{name}').current() == value
    # not picked up (and averaged) by LogProcessor as a train/ scalar
    assert not any(key.startswith('train/') for key in hub.log_scalars)

    assert runner.logger.lines == [
        'Epoch(knn) [0]  ' + '  '.join(
            f'knn/{name}: {expected[name]:.2f}'
            for name in ('k5_top1', 'k5_top5', 'k20_top1', 'k20_top5'))]
    lines = (tmp_path / 'vis/vis_data/run.json').read_text().splitlines()
    assert [json.loads(line) for line in lines] == [dict(
        {f'knn/{name}': value for name, value in expected.items()},
        epoch=0, iter=0, step=0)]

    # the normalisation is the config's: ImageNet's gives other features
    other = knn_evaluate(model.backbone, build_cls_data_preprocessor(None),
                         *loaders, ks=[5, 20], temperature=0.07)
    assert other != expected
    runner.cfg = Config(dict(model=dict()))
    hook2 = KNNMonitorHook(data_root=toy_root, img_size=32, k=[5, 20],
                           batch_size=16, num_workers=0, prefix='x')
    assert hook2.evaluate(runner, 1) == {f'x/{k}': v for k, v in other.items()}


def test_schedule(tmp_path, monkeypatch):
    hook = KNNMonitorHook(data_root=str(tmp_path), interval=2)
    epochs = []
    monkeypatch.setattr(hook, 'evaluate', lambda runner, e: epochs.append(e))
    runner = SimpleNamespace(epoch=0, max_epochs=5)
    hook.before_train(runner)
    for runner.epoch in range(5):
        hook.after_train_epoch(runner)
    assert epochs == [0, 2, 4, 5]  # start, every 2 epochs, the last one

    hook = KNNMonitorHook(data_root=str(tmp_path), before_train=False)
    monkeypatch.setattr(hook, 'evaluate', lambda runner, e: epochs.append(e))
    epochs.clear()
    hook.before_train(runner)
    assert epochs == []


@pytest.mark.parametrize('kwargs, message', [
    (dict(k=0), 'k must be an int >= 1'),
    (dict(k=[20, 0]), 'k must be an int >= 1'),
    (dict(k=[]), 'k must be an int >= 1'),
    (dict(temperature=0), 'temperature must be > 0, got temperature=0'),
    (dict(interval=0), 'interval must be an int >= 1, got interval=0'),
    (dict(batch_size=0), 'batch_size must be an int >= 1'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        KNNMonitorHook(data_root='data/toy', **kwargs)


def test_missing_data_is_named(tmp_path, toy_root):
    runner = _runner(tmp_path, _Model())
    missing = tmp_path / 'nope'
    with pytest.raises(FileNotFoundError, match=f'"{missing}/train" does not '
                       'exist'):
        KNNMonitorHook(data_root=str(missing)).before_train(runner)
    # a root without its val annotation
    root = tmp_path / 'no_val'
    os.makedirs(root / 'meta')
    os.symlink(osp.join(toy_root, 'train'), root / 'train')
    os.symlink(osp.join(toy_root, 'val'), root / 'val')
    os.symlink(osp.join(toy_root, 'meta', 'train.txt'),
               root / 'meta' / 'train.txt')
    with pytest.raises(FileNotFoundError, match=f'"{root}/meta/val.txt"'):
        KNNMonitorHook(data_root=str(root)).before_train(runner)


def _subset(root, dst, num_train, num_val) -> str:
    """``root`` with only the first ``num_train`` / ``num_val`` images."""
    os.makedirs(dst / 'meta')
    for split, num in (('train', num_train), ('val', num_val)):
        os.symlink(osp.join(root, split), dst / split)
        lines = open(osp.join(root, 'meta', f'{split}.txt')).readlines()
        assert len(lines) > num
        (dst / 'meta' / f'{split}.txt').write_text(''.join(lines[:num]))
    return str(dst)


def _knn_entries(work_dir):
    """The json lines of the run's ``vis_data/<timestamp>.json`` with kNN
    metrics, and whether training losses are in the same file."""
    (path, ), = [[osp.join(root, f) for f in files
                  if re.fullmatch(r'\d{8}_\d{6}\.json', f)]
                 for root, _, files in os.walk(work_dir)
                 if root.endswith('vis_data')]
    entries = [json.loads(line) for line in open(path)]
    return ([e for e in entries if 'knn/k20_top1' in e],
            any('loss' in e for e in entries))


def _run_all(cmds, log_dir, env=None):
    """Run the commands at once (most of each run is importing, which
    overlaps well); their outputs, each of which must succeed."""
    procs = []
    try:
        for i, cmd in enumerate(cmds):
            with open(log_dir / f'run{i}.log', 'w') as log:
                procs.append(subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, text=True,
                    cwd=REPO, env=env))
        outs = []
        for i, proc in enumerate(procs):
            proc.wait(timeout=300)
            outs.append((log_dir / f'run{i}.log').read_text())
            assert proc.returncode == 0, outs[-1][-4000:]
        return outs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()


@pytest.mark.slow
def test_one_and_two_processes_log_the_same_start(tmp_path, toy_root):
    from test_tools.test_train_tools import _free_port, _tiny_config

    # odd sizes, so that the 2-rank samplers pad (47 = 24 + 23, 15 = 8 + 7)
    knn_root = _subset(toy_root, tmp_path / 'knn_data', 47, 15)
    cfg = tmp_path / 'knn.py'
    cfg.write_text(f'''
_base_ = ['{_tiny_config(tmp_path, toy_root, 'maskdeep')}']
# 16 scenes: 2 steps in one process, 1 per process in two
train_dataloader = dict(num_workers=0, dataset=dict(indices=16))
train_cfg = dict(max_epochs=1)
default_hooks = dict(checkpoint=dict(interval=-1, save_last=False))
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='KNNMonitorHook', data_root='{knn_root}', img_size=32,
         batch_size=64, num_workers=0),
]
''')
    env = dict(os.environ, PYTHON=PYTHON, PORT=str(_free_port()))
    single, dist = _run_all([
        [PYTHON, osp.join(REPO, 'tools/train.py'), str(cfg), '--work-dir',
         str(tmp_path / 'single')],
        ['bash', osp.join(REPO, 'tools/dist_train.sh'), str(cfg), '2',
         '--work-dir', str(tmp_path / 'dist')],
    ], tmp_path, env=env)
    assert 'Distributed training: True' in dist

    logged = []
    for out, work in ((single, 'single'), (dist, 'dist')):
        lines = re.findall(r'Epoch\(knn\) \[(\d)\]  knn/k20_top1: ([\d.]+)  '
                           r'knn/k20_top5: ([\d.]+)', out)
        # before training and after the (last) epoch, logged once (rank 0)
        assert [epoch for epoch, _, _ in lines] == ['0', '1'], out[-3000:]
        entries, with_losses = _knn_entries(tmp_path / work)
        assert with_losses  # the training log's json file
        assert [(e['epoch'], e['step']) for e in entries] == [(0, 0), (1, 1)]
        assert [f'{e["knn/k20_top1"]:.2f}' for e in entries] == [
            top1 for _, top1, _ in lines]
        logged.append(entries[0])
    # identical weights before training: identical numbers
    assert logged[0] == logged[1]
    assert 0 <= logged[0]['knn/k20_top1'] <= logged[0]['knn/k20_top5'] <= 100
