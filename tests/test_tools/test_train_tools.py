"""End-to-end runs of tools/train.py and tools/dist_train.sh on the toy data."""
import json
import os
import os.path as osp
import re
import socket
import subprocess
from glob import glob

import pytest
import torch

from conftest import PYTHON, REPO

CONFIGS = {
    'byol': osp.join(REPO, 'configs/byol/byol_resnet18_1xb64-coslr-10e_toy.py'),
    'maskdeep': osp.join(
        REPO, 'configs/maskdeep/maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py'),
    'saliency-mocov2': osp.join(
        REPO, 'configs/saliency_mask/'
        'saliency-mocov2-blur_resnet18-w32_1xb32-coslr-10e_toy.py'),
    'mst': osp.join(REPO, 'configs/mst/mst_vit-tiny-p8_1xb32-coslr-10e_toy.py'),
    'ehm': osp.join(REPO,
                    'configs/ehm/ehm-mae_vit-tiny-p4_1xb32-coslr-10e_toy.py'),
}
# the momentum encoder of each algorithm (its EMA step count included)
MOMENTUM = {'byol': 'target_net', 'maskdeep': 'target_net',
            'saliency-mocov2': 'encoder_k', 'mst': 'teacher',
            'ehm': 'attention_ema'}
# the views of each algorithm, with the pipeline in `view`
VIEWS = {
    'byol': "dict(type='MultiView', num_views=2, transforms=[view]),\n"
            "        dict(type='PackInputs')",
    'maskdeep': "dict(type='MultiViewWithRoles', num_views=[2, 2], "
                "roles=['global', 'target'], transforms=[view, view]),\n"
                "        dict(type='PackInputs', "
                "meta_keys=('img_path', 'view_roles'))",
    'saliency-mocov2': "dict(type='MultiView', num_views=2, "
                       "transforms=[view]),\n        dict(type='PackInputs')",
    'mst': "dict(type='MultiViewWithRoles', num_views=[2, 2], "
           "roles=['global', 'local'], transforms=[view, [dict("
           "type='RandomResizedCrop', scale=16, backend='pillow')]]),\n"
           "        dict(type='PackInputs', "
           "meta_keys=('img_path', 'view_roles'))",
    'ehm': "*view,\n        dict(type='PackInputs')",
}
MODELS = {
    'byol': """dict(neck=dict(hid_channels=64, out_channels=32),
             head=dict(predictor=dict(in_channels=32, hid_channels=64,
                                      out_channels=32)))""",
    'maskdeep': """dict(neck=dict(out_channels=16, num_groups=4),
             head=dict(predictor=dict(in_channels=12 * 16, hid_channels=64)))""",
    # a queue of 6 batches: epoch 2 overwrites what epoch 1 enqueued
    'saliency-mocov2': """dict(queue_len=48, feat_dim=16,
             neck=dict(hid_channels=32, out_channels=16),
             fill=dict(kernel_size=5, sigma=1.5))""",
    # 32 px on 8-px patches: a 4 x 4 grid, a 3-stage decoder
    'mst': """dict(
        backbone=dict(arch=dict(embed_dims=32, num_heads=2, num_layers=2,
                                feedforward_channels=64), img_size=32),
        neck=dict(in_channels=32, out_channels=64, hidden_channels=32,
                  bottleneck_channels=16),
        head=dict(out_channels=64),
        decoder=dict(in_channels=32, channels=(16, 8, 8)))""",
    # 32 px on 8-px patches, the attention pass from an EMA copy
    'ehm': """dict(
        backbone=dict(arch=dict(embed_dims=32, num_heads=2, num_layers=2,
                                feedforward_channels=64), patch_size=8),
        neck=dict(num_patches=16, patch_size=8, embed_dim=32,
                  decoder_embed_dim=16, decoder_depth=1,
                  decoder_num_heads=2),
        head=dict(patch_size=8), attention_layers=2,
        attention_source='ema')""",
}


def _tiny_config(tmp_path, toy_root: str, algo: str = 'byol') -> str:
    """The algorithm's toy config shrunk: 32 px views, batch 8 (6 steps per
    epoch on 48 scenes), two dataloader workers, random augmentations kept."""
    path = tmp_path / f'tiny_{algo}.py'
    path.write_text(f'''
_base_ = ['{CONFIGS[algo]}']
view = [
    dict(type='RandomResizedCrop', scale=32, backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[dict(
        type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2,
        hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True),
]
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=False,
    dataset=dict(data_root='{toy_root}', pipeline=[
        dict(type='LoadImageFromFile'),
        {VIEWS[algo]}]))
model = {MODELS[algo]}
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(max_keep_ckpts=-1))
''')
    return str(path)


def _run(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _run_failing(cmd, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``, which must fail (``kwargs``: more subprocess.run
    arguments, such as ``env`` or ``preexec_fn``)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                          **kwargs)
    assert proc.returncode != 0
    return proc


def _checkpoint(path) -> dict:
    return torch.load(path, map_location='cpu', weights_only=True)


def _weights(path):
    return _checkpoint(path)['state_dict']


@pytest.mark.slow
@pytest.mark.parametrize('algo',
                         ['byol', 'maskdeep', 'saliency-mocov2', 'mst',
                          'ehm'])
def test_resume_is_exact(tmp_path, toy_root, algo):
    """Weights, momentum encoder (its EMA step count, which drives the
    momentum schedule, included), buffers (MoCo's queue, MST's centre) and
    optimizer state, with the scheduled weight decay and lr, match."""
    cfg = _tiny_config(tmp_path, toy_root, algo)
    train = [PYTHON, osp.join(REPO, 'tools/train.py'), cfg]
    full = tmp_path / 'full'
    _run(train + ['--work-dir', str(full)])

    resumed = tmp_path / 'resumed'
    resumed.mkdir()
    # what a run stopped after epoch 1 leaves behind
    os.link(full / 'epoch_1.pth', resumed / 'epoch_1.pth')
    _run(train + ['--work-dir', str(resumed), '--resume',
                  str(resumed / 'epoch_1.pth')])

    a, b = _weights(full / 'epoch_2.pth'), _weights(resumed / 'epoch_2.pth')
    assert a.keys() == b.keys()
    first = _weights(full / 'epoch_1.pth')
    moved = [k for k in a if a[k].is_floating_point()
             and not torch.equal(a[k], first[k])]
    assert len(moved) > 50  # epoch 2 trained: online and target nets moved
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0,
                                   msg=key)
    # the momentum schedule's position: 2 epochs x 6 updates
    assert a[f'{MOMENTUM[algo]}.steps'].item() == 12
    if 'queue' in a:  # MoCo: the queue and its pointer resume too (checked
        # above); 12 batches of 8 keys went round the 48-key queue twice
        assert a['queue_ptr'].item() == 0
        assert not torch.equal(a['queue'], first['queue'])
    opt_a, opt_b = (_checkpoint(w / 'epoch_2.pth')['optimizer']
                    for w in (full, resumed))
    assert opt_a['state'].keys() == opt_b['state'].keys() and opt_a['state']
    for key in opt_a['state']:
        torch.testing.assert_close(opt_a['state'][key], opt_b['state'][key],
                                   atol=1e-6, rtol=0)
    for group_a, group_b in zip(opt_a['param_groups'], opt_b['param_groups']):
        assert group_a['weight_decay'] == group_b['weight_decay']
        assert group_a['lr'] == group_b['lr']
    if algo == 'mst':  # the centre moved; the teacher temperature warms up
        assert a['head.center'].abs().sum() > 0
        temps = [_logged(w, 'teacher_temp') for w in (full, resumed)]
        assert temps[0][2] == temps[1][2] == pytest.approx(0.055)
    if algo == 'ehm':  # the masking depth went on from iter 6 of 12
        depths = [_logged(w, 'mask_depth', 'iter') for w in (full, resumed)]
        assert depths[1] == {i: depths[0][i] for i in range(7, 13)}
        assert depths[0][12] == pytest.approx(11 / 12)


def _logged(work_dir, key: str, at: str = 'epoch') -> dict:
    """``at`` (epoch or iter) -> the scalar ``key`` in a run's JSON log."""
    (log, ) = [p for p in glob(osp.join(work_dir, '*', 'vis_data', '*.json'))
               if osp.basename(p) != 'scalars.json']
    values = {}
    with open(log) as f:
        for line in f:
            rec = json.loads(line)
            if key in rec:
                values[rec[at]] = rec[key]
    return values


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tmp_path, toy_root):
    cfg = _tiny_config(tmp_path, toy_root)
    env = dict(os.environ, PYTHON=PYTHON, PORT=str(_free_port()))
    work = tmp_path / 'dist'
    proc = _run(['bash', osp.join(REPO, 'tools/dist_train.sh'), cfg, '2',
                 '--work-dir', str(work), '--cfg-options',
                 'train_cfg.max_epochs=1'], env=env)
    out = proc.stdout + proc.stderr
    assert 'No GPU found: gloo backend, CPUDistributedDataParallel' in out
    assert 'Distributed training: True' in out
    # 48 scenes / (2 processes x 8) = 3 iterations per epoch
    assert re.search(r'Epoch\(train\) +\[1\]\[3/3\]', out)
    assert (work / 'epoch_1.pth').exists()


@pytest.mark.slow
def test_bad_input_is_named(tmp_path, toy_root):
    train = [PYTHON, osp.join(REPO, 'tools/train.py')]
    proc = _run_failing(train + ['configs/no_such.py'])
    assert 'config file "configs/no_such.py" does not exist' in proc.stderr

    cfg = _tiny_config(tmp_path, toy_root)
    # a typo in --cfg-options is named (here the model then refuses the key)
    proc = _run_failing(train + [cfg, '--work-dir', str(tmp_path / 'typo'),
                                 '--cfg-options', 'model.backbon.depth=34'])
    out = proc.stdout + proc.stderr
    assert ('--cfg-options key "model.backbon.depth": "backbon" is not a key '
            'of model' in out)
    assert 'did you mean backbone' in out

    proc = _run_failing(train + [
        cfg, '--cfg-options',
        f'train_dataloader.dataset.data_root={tmp_path}/nope'])
    assert (f'train_dataloader.dataset.data_root: "{tmp_path}/nope" does not '
            'exist' in proc.stderr)

    # a corrupt image: the error names the file
    broken = tmp_path / 'broken'
    os.makedirs(broken / 'meta')
    os.makedirs(broken / 'train' / 'circle')
    (broken / 'train' / 'circle' / 'x.jpg').write_bytes(b'not a jpeg')
    (broken / 'meta' / 'train.txt').write_text('circle/x.jpg 0\n')
    proc = _run_failing(train + [
        cfg, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
        f'train_dataloader.dataset.data_root={broken}',
        'train_dataloader.num_workers=0', 'train_dataloader.batch_size=1'])
    assert 'circle/x.jpg' in proc.stderr
