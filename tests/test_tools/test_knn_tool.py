import json
import os.path as osp
import subprocess

import pytest

from conftest import PYTHON, REPO

DEMO = osp.join(REPO, 'configs/byol/byol_resnet18_1xb64-coslr-10e_toy.py')


@pytest.mark.slow
def test_knn_tool_random_init(tmp_path, toy_root):
    out = tmp_path / 'knn.json'
    proc = subprocess.run(
        [PYTHON, 'tools/benchmarks/knn_eval.py', DEMO, '--random-init',
         '--data-root', toy_root, '--img-size', '32', '--k', '5', '20',
         '--num-workers', '0', '--out', str(out)],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert set(res) == {'k5_top1', 'k5_top5', 'k20_top1', 'k20_top5'}
    assert all(0 <= v <= 100 for v in res.values())
    assert res['k20_top5'] >= res['k20_top1']
    assert 'k20_top1:' in proc.stdout


def test_knn_tool_errors(tmp_path):
    proc = subprocess.run(
        [PYTHON, 'tools/benchmarks/knn_eval.py', DEMO, '--random-init',
         '--data-root', str(tmp_path)], capture_output=True, text=True,
        cwd=REPO)
    assert proc.returncode != 0
    assert f'"{tmp_path}/train" does not exist' in proc.stderr
    proc = subprocess.run(
        [PYTHON, 'tools/benchmarks/knn_eval.py', DEMO,
         str(tmp_path / 'none.pth'), '--data-root', str(tmp_path)],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0
    assert 'none.pth' in proc.stderr
