"""tools/demo.py: the curves it reads from a training log and the PNG it
writes (the demo itself trains for minutes and is measured, not tested)."""
import importlib.util
import json
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO

spec = importlib.util.spec_from_file_location(
    'demo', osp.join(REPO, 'tools', 'demo.py'))
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)


def _records():
    """A LoggerHook JSON log with two logged iterations per epoch and the
    KNNMonitorHook's entries (epoch 0 before training)."""
    return [
        {'knn/k20_top1': 20.0, 'knn/k20_top5': 70.0, 'epoch': 0, 'iter': 0,
         'step': 0},
        {'lr': 0.1, 'loss': 4.0, 'epoch': 1, 'iter': 10, 'step': 10},
        {'lr': 0.1, 'loss': 2.0, 'epoch': 1, 'iter': 20, 'step': 20},
        {'knn/k20_top1': 25.0, 'knn/k20_top5': 75.0, 'epoch': 1, 'iter': 20,
         'step': 1},
        {'lr': 0.1, 'loss': 1.0, 'epoch': 2, 'iter': 30, 'step': 30},
        {'knn/k20_top1': 31.5, 'knn/k20_top5': 80.0, 'epoch': 2, 'iter': 40,
         'step': 2},
    ]


def test_epoch_curves_average_losses_and_key_knn_by_epoch():
    losses, knn = demo.epoch_curves(_records(), 'knn/k20_top1')
    assert losses == {1: 3.0, 2: 1.0}
    assert knn == {0: 20.0, 1: 25.0, 2: 31.5}


def test_knn_at_reads_the_hook_metrics_of_an_epoch():
    assert demo.knn_at(_records(), 2) == {'k20_top1': 31.5, 'k20_top5': 80.0}
    assert demo.knn_at(_records(), 0) == {'k20_top1': 20.0, 'k20_top5': 70.0}
    with pytest.raises(KeyError, match='epoch 3'):
        demo.knn_at(_records(), 3)


def test_read_json_log_takes_the_newest_run(tmp_path):
    for stamp, loss in (('20260101_000000', 9.0), ('20260102_000000', 1.0)):
        vis = tmp_path / stamp / 'vis_data'
        vis.mkdir(parents=True)
        (vis / f'{stamp}.json').write_text(
            json.dumps({'loss': loss, 'epoch': 1}) + '\n')
        (vis / 'scalars.json').write_text('{}\n')
    assert demo.read_json_log(str(tmp_path)) == [{'loss': 1.0, 'epoch': 1}]
    with pytest.raises(FileNotFoundError, match='vis_data'):
        demo.read_json_log(str(tmp_path / 'none'))


def test_plot_curves_writes_a_png(tmp_path):
    losses, knn = demo.epoch_curves(_records(), 'knn/k20_top1')
    path = tmp_path / 'curves.png'
    demo.plot_curves(str(path), losses, knn, [18.0, 19.0, 21.0], 'toy')
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_demo_config_trains_on_the_data_root_with_the_knn_monitor():
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(data_root='data/toy/')),
        custom_hooks=[dict(type='EpochSeedHook'),
                      dict(type='KNNMonitorHook', data_root='x', interval=5)]))
    out = demo.demo_config(cfg, '/d', 48)
    assert out.train_dataloader.dataset.data_root == '/d'
    assert [h['type'] for h in out.custom_hooks] == ['EpochSeedHook',
                                                      'KNNMonitorHook']
    knn = out.custom_hooks[1]
    assert (knn['data_root'], knn['img_size'], knn['interval'],
            knn['before_train']) == ('/d', 48, 1, True)
    # the config it was given is untouched
    assert cfg.custom_hooks[1]['interval'] == 5
    assert cfg.train_dataloader.dataset.data_root == 'data/toy/'
