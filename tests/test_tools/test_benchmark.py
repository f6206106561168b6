import json
import os.path as osp
import subprocess

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from conftest import PYTHON, REPO
from maskssl.analysis.benchmark import (counts_fused_attention,
                                        flop_counter, format_table,
                                        ratio_table, run_benchmark,
                                        synthetic_batch)

DEMO = osp.join(REPO, 'configs/byol/byol_resnet18_1xb64-coslr-10e_toy.py')


def test_synthetic_batch_follows_pipeline():
    cfg = Config.fromfile(DEMO)
    batch = synthetic_batch(cfg, batch_size=3)
    assert len(batch['inputs']) == 2  # BYOL's two views
    assert all(v.shape == (3, 3, 64, 64) for v in batch['inputs'])
    small = synthetic_batch(cfg, batch_size=2, img_size=32)
    assert all(v.shape == (2, 3, 32, 32) for v in small['inputs'])


def test_fused_attention_is_counted_on_cpu():
    # B=2 images, H=3 heads, L=16 tokens, D=8 channels per head
    q = torch.randn(2, 3, 16, 8, requires_grad=True)
    fused, written = flop_counter(), flop_counter()
    with fused:
        F.scaled_dot_product_attention(q, q, q).sum().backward()
    with written:  # the same attention as two matmuls (and a softmax)
        attn = (q @ q.transpose(-1, -2) * 8**-0.5).softmax(dim=-1)
        out = attn @ q
    # forward: Q K^T and A V, 2 B H L L D FLOPs each
    matmuls = 2 * (2 * 2 * 3 * 16 * 16 * 8)
    assert written.get_total_flops() == matmuls
    counts = {str(op): n for op, n in fused.get_flop_counts()['Global'].items()}
    assert counts[
        'aten._scaled_dot_product_flash_attention_for_cpu'] == matmuls
    # backward: the 4 gradient matmuls plus the recomputed Q K^T, torch's
    # formula for its fused CUDA kernels
    assert counts[
        'aten._scaled_dot_product_flash_attention_for_cpu_backward'] == \
        5 * matmuls // 2
    assert out.shape == (2, 3, 16, 8)
    assert counts_fused_attention('cpu')


def test_ratios_track_flops():
    cfg = Config.fromfile(DEMO)
    big, small = cfg.copy(), cfg.copy()
    results = run_benchmark({'big': big, 'small': small}, iters=2, warmup=1,
                            batch_size=4, img_size=64)
    assert [r.name for r in results] == ['big', 'small']
    table = ratio_table(results)
    rows = {r['name']: r for r in table['results']}
    assert rows['small']['time_ratio'] == rows['small']['flop_ratio'] == 1.0
    # same model, same size: identical FLOPs
    assert rows['big']['flop_ratio'] == pytest.approx(1.0)
    # ResNet-18 at 64 px: 1.82 GMACs at 224 scaled by (64/224)^2 per view,
    # two online + two target views, plus the small MLPs
    per_view = 1.82 * (64 / 224)**2
    assert rows['big']['gflops_per_img'] == pytest.approx(4 * per_view,
                                                          rel=0.1)
    # training step: the online views also run backward (about 2x their
    # forward; the stem has no input gradient), the target views do not
    assert rows['big']['train_gflops_per_img'] == pytest.approx(
        (2 * 3 + 2) * per_view, rel=0.15)
    assert rows['big']['peak_mem_mb'] > 0
    assert 'ratios are against small' in format_table(table)


@pytest.mark.slow
def test_benchmark_tool(tmp_path):
    out = tmp_path / 'bench.json'
    proc = subprocess.run(
        [PYTHON, 'tools/analysis/benchmark.py', DEMO, '--baseline', DEMO,
         '--iters', '2', '--warmup', '1', '--batch-size', '4', '--img-size',
         '64', '--cfg-options', 'train_dataloader.dataset.pipeline.1.'
         'transforms.0.0.scale=128', '--out', str(out)],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = json.loads(out.read_text())
    under_test, base = table['results']
    assert base['name'].startswith('baseline:')
    # --img-size 64 caps the largest crop: view 1 (128) -> 64, view 2 -> 32
    assert under_test['flop_ratio'] == pytest.approx((1 + 0.25) / 2, rel=0.1)
    assert 'time x' in proc.stdout
