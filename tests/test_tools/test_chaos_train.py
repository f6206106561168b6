"""tools/analysis/chaos_train.py and maskssl.analysis.chaos."""
import os.path as osp
import subprocess

import pytest
import torch

from conftest import PYTHON, REPO
from maskssl.analysis import max_abs_diff
from maskssl.analysis.chaos import (checkpoint_step, last_checkpoint, saving,
                                    train_command)
from test_tools.test_train_tools import _tiny_config


def test_max_abs_diff():
    a = {'w': torch.tensor([1.0, 2.0]), 'steps': torch.tensor(3)}
    b = {'w': torch.tensor([1.0, 2.5]), 'steps': torch.tensor(3)}
    assert max_abs_diff(a, b) == (0.5, 'w')
    assert max_abs_diff(a, a)[0] == 0.0
    with pytest.raises(ValueError, match='differ in keys'):
        max_abs_diff(a, {'w': a['w']})
    with pytest.raises(ValueError, match=r'"w": shape \(2,\) vs \(3,\)'):
        max_abs_diff(a, {'w': torch.zeros(3), 'steps': a['steps']})


def test_work_dir_state(tmp_path):
    assert last_checkpoint(str(tmp_path)) is None
    assert not saving(str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text('/x/epoch_2.pth\n')
    (tmp_path / '.epoch_3.pth.tmp').write_bytes(b'')
    assert last_checkpoint(str(tmp_path)) == '/x/epoch_2.pth'
    assert saving(str(tmp_path))
    cmd = train_command('c.py', 'wd', True, ['a=1'])
    assert cmd[1].endswith(osp.join('tools', 'train.py'))
    assert cmd[2:] == ['c.py', '--work-dir', 'wd', '--resume',
                       '--cfg-options', 'a=1']


@pytest.mark.slow
def test_chaos_train_reproduces_the_uninterrupted_run(tmp_path, toy_root):
    cfg = _tiny_config(tmp_path, toy_root, 'maskdeep')
    work_dir = tmp_path / 'chaos'
    proc = subprocess.run([
        PYTHON, osp.join(REPO, 'tools/analysis/chaos_train.py'), cfg,
        '--kills', '2', '--seed', '1', '--work-dir', str(work_dir),
        '--cfg-options', 'train_dataloader.num_workers=0'
    ], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'equal: the killed and resumed run reproduces' in proc.stdout
    kill_rows = [line for line in proc.stdout.splitlines()
                 if line.strip()[:1] in ('1', '2')]
    assert len(kill_rows) == 2
    # the killed run was resumed to the end of its schedule
    assert last_checkpoint(str(work_dir / 'chaos')).endswith('epoch_2.pth')


def test_final_checkpoint_write_is_not_a_kill_target(tmp_path):
    (tmp_path / '.epoch_4.pth.tmp').write_bytes(b'')
    assert saving(str(tmp_path))
    assert not saving(str(tmp_path), final='epoch_4.pth')
    assert saving(str(tmp_path), final='epoch_5.pth')
    assert checkpoint_step('/w/epoch_12.pth') == 12
    assert checkpoint_step('/w/iter_400.pth') == 400
    assert checkpoint_step(None) == 0
