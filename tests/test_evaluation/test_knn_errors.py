"""kNN arguments and splits are checked before features are extracted, with
messages naming the argument, the value and, for ``k``, the bank size."""
import re
import shutil

import pytest
import torch
from torch.utils.data import DataLoader

from maskssl.evaluation import knn_dataloader, knn_evaluate, knn_metrics
from maskssl.evaluation.knn import check_knn_args


@pytest.mark.parametrize('kwargs, message', [
    (dict(ks=[0], temperature=0.07), 'kNN: k=0 (int); expected a positive'),
    (dict(ks=[20, 2.5], temperature=0.07), 'k=2.5 (float)'),
    (dict(ks=[], temperature=0.07), 'k=[]; expected a non-empty list'),
    (dict(ks=[20], temperature=0), 'temperature=0; expected a finite '
     'number > 0'),
    (dict(ks=[20], temperature=-0.1), 'temperature=-0.1'),
    (dict(ks=[20], temperature=float('inf')), 'temperature=inf'),
    (dict(ks=[10, 50], temperature=0.07, bank_size=48),
     'k=50 is larger than the memory bank (48 train samples); expected '
     '1 <= k <= 48'),
    (dict(ks=[0], temperature=0.07, k_name='--k'), 'kNN: --k=0'),
])
def test_check_knn_args(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_knn_args(**kwargs)


def test_knn_metrics_refuses_k_over_bank_and_empty_val():
    g = torch.Generator().manual_seed(0)
    train, labels = torch.randn(30, 4, generator=g), torch.arange(30) % 3
    val, val_labels = torch.randn(5, 4, generator=g), torch.arange(5) % 3
    assert set(knn_metrics(train, labels, val, val_labels, ks=[30])) == {
        'k30_top1', 'k30_top5'}
    with pytest.raises(ValueError, match=r'k=31 is larger than the memory '
                       r'bank \(30 train samples\)'):
        knn_metrics(train, labels, val, val_labels, ks=[31])
    with pytest.raises(ValueError, match='the val split is empty'):
        knn_metrics(train, labels, val[:0], val_labels[:0])
    with pytest.raises(ValueError, match=r'temperature=0'):
        knn_metrics(train, labels, val, val_labels, temperature=0)


class _NoBackbone(torch.nn.Module):

    def forward(self, x):
        raise AssertionError('features must not be extracted')


def test_knn_evaluate_checks_before_extraction():
    train = DataLoader(list(range(8)))
    with pytest.raises(ValueError, match=r'k=20 is larger than the memory '
                       r'bank \(8 train samples\)'):
        knn_evaluate(_NoBackbone(), None, train, DataLoader(list(range(2))))
    with pytest.raises(ValueError, match='the val split is empty'):
        knn_evaluate(_NoBackbone(), None, train, DataLoader([]), ks=[4])


def test_empty_val_annotation_file_is_named(tmp_path, toy_root):
    root = tmp_path / 'toy'
    shutil.copytree(f'{toy_root}/meta', root / 'meta')
    (root / 'val').mkdir()
    (root / 'meta' / 'val.txt').write_text('\n')
    with pytest.raises(ValueError, match=re.escape(
            f'kNN val split: "{root}/meta/val.txt" lists no images')):
        knn_dataloader(str(root), 'val', img_size=32, num_workers=0)
