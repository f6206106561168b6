"""The downstream launchers in tools/benchmarks/: the command they build (with
MASKSSL_DRY_RUN=1, parsed the way tools/train.py parses it), their early
errors, and the config keys they set."""
import argparse
import os
import os.path as osp
import shlex
import subprocess

import pytest
from mmengine.config import Config, DictAction

from conftest import REPO

BACKBONE = 'model.backbone.init_cfg.checkpoint'
SHARED_HEAD = 'model.roi_head.shared_head.init_cfg.checkpoint'
BENCH = 'configs/benchmarks'
# protocol -> (keys set to the checkpoint, benchmark configs it is meant for)
PROTOCOLS = {
    'c4': ((BACKBONE, SHARED_HEAD), [
        'mmdetection/faster-rcnn_r50-c4_8xb2-ms-24k_voc0712.py',
        'mmdetection/mask-rcnn_r50-c4_8xb2-ms-1x_coco.py',
        'mmdetection/mask-rcnn_r50-c4_8xb2-ms-2x_coco.py']),
    'fpn': ((BACKBONE, ), [
        'mmdetection/mask-rcnn_r50_fpn_8xb2-ms-1x_coco.py',
        'mmdetection/mask-rcnn_r50_fpn_8xb2-ms-2x_coco.py']),
    'seg': ((BACKBONE, ), [
        'mmsegmentation/upernet_r50_4xb4-160k_ade20k-512x512.py']),
    'linear': ((BACKBONE, ), [
        'classification/resnet50_8xb32-linear-steplr-100e_in1k.py']),
}
# (script under tools/benchmarks, launcher, protocol)
LAUNCHERS = [
    ('mmdetection/dist_train_c4.sh', 'dist', 'c4'),
    ('mmdetection/slurm_train_c4.sh', 'slurm', 'c4'),
    ('mmdetection/dist_train_fpn.sh', 'dist', 'fpn'),
    ('mmdetection/slurm_train_fpn.sh', 'slurm', 'fpn'),
    ('mmsegmentation/dist_train.sh', 'dist', 'seg'),
    ('mmsegmentation/slurm_train.sh', 'slurm', 'seg'),
    ('classification/dist_linear.sh', 'dist', 'linear'),
    ('classification/slurm_linear.sh', 'slurm', 'linear'),
]
each_launcher = pytest.mark.parametrize(
    'script,launcher,protocol', LAUNCHERS, ids=[s for s, _, _ in LAUNCHERS])


def _train_args(argv):
    """tools/train.py's parse of ``argv`` (its --cfg-options is mmengine's
    DictAction)."""
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('--work-dir')
    parser.add_argument('--amp', action='store_true')
    parser.add_argument('--launcher')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _run(script, *args):
    env = dict(os.environ, MASKSSL_DRY_RUN='1')
    return subprocess.run(
        ['bash', f'tools/benchmarks/{script}', *map(str, args)], cwd=REPO,
        env=env, capture_output=True, text=True)


def _args(launcher, config, ckpt, *extra):
    """dist: CONFIG PRETRAIN_CKPT GPUS; slurm: PARTITION CONFIG CKPT."""
    if launcher == 'dist':
        return (config, ckpt, 4, *extra)
    return ('dev', config, ckpt, *extra)


def _user_args(launcher, argv):
    """What the printed command hands to tools/train.py after the config:
    dist_train.sh CONFIG GPUS [args] or, from slurm_train.sh PARTITION JOB
    CONFIG WORK_DIR [args], --work-dir=WORK_DIR [args]."""
    if launcher == 'dist':
        return argv[3:]
    return [f'--work-dir={argv[4]}'] + argv[5:]


@pytest.fixture
def files(tmp_path):
    config = tmp_path / 'mask-rcnn_r50-c4_8xb2-ms-2x_coco.py'
    config.write_text('')
    ckpt = tmp_path / 'maskdeep_200e' / 'epoch_200.pth'
    ckpt.parent.mkdir()
    ckpt.write_bytes(b'')
    return str(config), str(ckpt)


def test_every_launcher_is_listed():
    found = sorted(osp.relpath(osp.join(d, f), REPO)
                   for d, _, fs in os.walk(osp.join(REPO, 'tools/benchmarks'))
                   for f in fs if f.endswith('.sh') and f != 'launch_common.sh')
    assert found == sorted(f'tools/benchmarks/{s}' for s, _, _ in LAUNCHERS)
    assert all(os.access(osp.join(REPO, s), os.X_OK) for s in found)


@each_launcher
def test_command(files, script, launcher, protocol):
    config, ckpt = files
    proc = _run(script, *_args(launcher, config, ckpt, '--amp',
                               '--cfg-options', 'train_cfg.max_iters=10'))
    assert proc.returncode == 0, proc.stderr
    argv = shlex.split(proc.stdout)
    tool = 'dist_train.sh' if launcher == 'dist' else 'slurm_train.sh'
    assert osp.normpath(osp.join(REPO, argv[0])) == osp.join(REPO, 'tools',
                                                             tool)
    stem = 'mask-rcnn_r50-c4_8xb2-ms-2x_coco'
    if launcher == 'dist':
        assert argv[1:3] == [config, '4']
    else:
        assert argv[1:4] == ['dev', stem, config]
    args = _train_args([config] + _user_args(launcher, argv))
    assert args.work_dir == f'work_dirs/benchmarks/{stem}/epoch_200'
    assert args.amp
    # both --cfg-options occurrences reach the config
    keys = PROTOCOLS[protocol][0]
    assert args.cfg_options == {**{k: ckpt for k in keys},
                                'train_cfg.max_iters': 10}


@each_launcher
def test_user_options_win(files, script, launcher, protocol):
    config, ckpt = files
    proc = _run(script, *_args(launcher, config, ckpt, '--work-dir', 'mine',
                               '--cfg-options', f'{BACKBONE}=other.pth'))
    assert proc.returncode == 0, proc.stderr
    args = _train_args([config] +
                       _user_args(launcher, shlex.split(proc.stdout)))
    assert args.work_dir == 'mine'
    assert args.cfg_options[BACKBONE] == 'other.pth'


@each_launcher
def test_errors(files, tmp_path, script, launcher, protocol):
    config, ckpt = files
    proc = _run(script, *_args(launcher, config, ckpt)[:2])
    assert proc.returncode != 0 and 'Usage:' in proc.stderr
    missing = tmp_path / 'missing.pth'
    proc = _run(script, *_args(launcher, config, missing))
    assert proc.returncode != 0 and proc.stdout == ''
    assert f'"{missing}" does not exist' in proc.stderr
    proc = _run(script, *_args(launcher, tmp_path / 'none.py', ckpt))
    assert proc.returncode != 0 and 'none.py" does not exist' in proc.stderr
    odd = tmp_path / 'ep 1,2.pth'
    odd.write_bytes(b'')
    proc = _run(script, *_args(launcher, config, odd))
    assert proc.returncode != 0 and '--cfg-options' in proc.stderr
    proc = _run(script, *_args(launcher, config, 'https://host/w.pth'))
    assert proc.returncode == 0, proc.stderr


def test_dist_gpus_must_be_a_count(files):
    config, ckpt = files
    proc = _run('mmdetection/dist_train_c4.sh', config, ckpt, '--amp')
    assert proc.returncode != 0 and 'Usage:' in proc.stderr


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_keys_are_pretrained_init_cfgs(protocol):
    """The keys a launcher sets are Pretrained init_cfgs with prefix
    'backbone.' in each benchmark config it is meant for."""
    keys, configs = PROTOCOLS[protocol]
    for config in configs:
        path = osp.join(REPO, BENCH, config)
        assert osp.isfile(path), f'{BENCH}/{config} does not exist yet'
        cfg = Config.fromfile(path)
        for key in keys:
            init_cfg = cfg
            for part in key.split('.')[:-1]:
                init_cfg = init_cfg[part]
            assert init_cfg.type == 'Pretrained', (config, key)
            assert init_cfg.prefix == 'backbone.', (config, key)
