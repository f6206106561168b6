"""The tools refuse bad input before any work, naming the option, the
config file or the value: kNN options, a non-MaskDeep config for
vis_maskdeep.py, a non-SSL config or no step for benchmark.py."""
import importlib.util
import os.path as osp
import re
import shutil
import sys

import pytest
from mmengine.config import Config

from conftest import REPO
from maskssl.analysis.benchmark import run_benchmark

T = osp.join(REPO, 'configs/maskdeep/'
             'maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py')
BYOL = osp.join(REPO, 'configs/byol/byol_resnet18_1xb64-coslr-10e_toy.py')
LINEAR = osp.join(REPO, 'configs/benchmarks/classification/'
                  'resnet50_8xb32-linear-steplr-100e_in1k.py')


def run_tool(path: str, argv, monkeypatch) -> None:
    """Run ``main()`` of the tool at ``path`` (relative to the repository)
    with the command line ``argv``."""
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(path))[0], osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, 'argv', [path] + [str(a) for a in argv])
    module.main()


@pytest.mark.parametrize('options, message', [
    (['--k', '500'], 'kNN: --k=500 is larger than the memory bank (48 train '
     'samples)'),
    (['--k', '20', '0'], 'kNN: --k=0 (int); expected a positive int'),
    (['--temperature', '0'], 'kNN: --temperature=0.0; expected a finite '
     'number > 0'),
    (['--temperature', '-1'], '--temperature=-1.0'),
    (['--img-size', '0'], 'kNN: --img-size=0 (int)'),
    (['--cfg-options', 'knn.k=[100]'], 'kNN: knn.k=100 is larger than the '
     'memory bank (48 train samples)'),
    (['--cfg-options', 'knn.temperature=0'], 'kNN: knn.temperature=0;'),
])
def test_knn_tool_options(toy_root, monkeypatch, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_tool('tools/benchmarks/knn_eval.py',
                 [T, '--random-init', '--data-root', toy_root,
                  '--num-workers', 0] + options, monkeypatch)


def test_knn_tool_empty_val_split(tmp_path, toy_root, monkeypatch):
    root = tmp_path / 'toy'
    shutil.copytree(toy_root, root)
    (root / 'meta' / 'val.txt').write_text('')
    with pytest.raises(ValueError, match=re.escape(
            f'kNN val split: "{root}/meta/val.txt" lists no images')):
        run_tool('tools/benchmarks/knn_eval.py',
                 [T, '--random-init', '--data-root', root, '--k', 5,
                  '--num-workers', 0], monkeypatch)


def test_vis_maskdeep_refuses_other_models(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=re.escape(
            f'config "{BYOL}": model.type=\'BYOL\' is not a MaskDeep; '
            'expected a MaskDeep config')):
        run_tool('tools/visualization/vis_maskdeep.py',
                 [BYOL, tmp_path / 'none.pth', tmp_path / 'img.jpg'],
                 monkeypatch)


def test_benchmark_refuses_non_ssl_config(monkeypatch):
    with pytest.raises(ValueError, match=re.escape(
            f'config "{LINEAR}": model.type=\'ImageClassifier\' is not a '
            'BaseSelfSupervisor; expected a pretraining config')):
        run_tool('tools/analysis/benchmark.py', [BYOL, '--baseline', LINEAR],
                 monkeypatch)


@pytest.mark.parametrize('options, message', [
    (['--iters', '0'], 'benchmark.py: --iters=0 (int); expected a positive '
     'int'),
    (['--warmup', '-1'], 'benchmark.py: --warmup=-1 (int); expected a '
     'non-negative int'),
    (['--batch-size', '0'], '--batch-size=0'),
])
def test_benchmark_tool_step_counts(monkeypatch, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_tool('tools/analysis/benchmark.py', [BYOL] + options,
                 monkeypatch)


@pytest.mark.parametrize('kwargs, message', [
    (dict(iters=0), 'run_benchmark: iters=0 (int)'),
    (dict(warmup=-2), 'run_benchmark: warmup=-2 (int)'),
    (dict(img_size=2.5), 'run_benchmark: img_size=2.5 (float)'),
])
def test_run_benchmark_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_benchmark({'byol': Config.fromfile(BYOL)}, **kwargs)
    with pytest.raises(ValueError, match='no config given'):
        run_benchmark({})
