"""Weighted k-nearest-neighbour evaluation of frozen features.

The protocol of Wu et al. 2018 ("Unsupervised feature learning via
non-parametric instance discrimination"), as used by DINO and mmselfsup:
features are L2-normalised, the ``k`` training samples with the highest cosine
similarity vote for their class with weight ``exp(sim / T)``, and top-1/top-5
accuracy is read from the summed votes.
"""
import math
import numbers
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..utils.arg_checks import check_int


def check_knn_args(ks: Sequence[int],
                   temperature: float,
                   bank_size: Optional[int] = None,
                   k_name: str = 'k',
                   temperature_name: str = 'temperature') -> None:
    """Validate the kNN neighbour counts and temperature.

    Args:
        ks (Sequence[int]): Numbers of neighbours, each a positive int and,
            with ``bank_size``, at most ``bank_size``.
        temperature (float): ``T``, a finite number > 0.
        bank_size (int, optional): Samples in the memory bank (the train
            split); ``None`` skips the upper bound of ``k``.
        k_name (str): How the message names ``k`` (e.g. ``'--k'`` or
            ``'knn.k'`` in a tool). Defaults to ``'k'``.
        temperature_name (str): How the message names the temperature.

    Raises:
        ValueError: naming the argument, the value and, for a ``k`` larger
            than the bank, the bank size.
    """
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence) \
            or not ks:
        raise ValueError(f'kNN: {k_name}={ks!r}; expected a non-empty list '
                         'of positive ints')
    for k in ks:
        check_int(k, k_name, owner='kNN')
        if bank_size is not None and k > bank_size:
            raise ValueError(
                f'kNN: {k_name}={k} is larger than the memory bank '
                f'({bank_size} train samples); expected 1 <= k <= '
                f'{bank_size}')
    if isinstance(temperature, bool) or not isinstance(
            temperature, numbers.Real) or not (
                math.isfinite(temperature) and temperature > 0):
        raise ValueError(f'kNN: {temperature_name}={temperature!r}; '
                         'expected a finite number > 0 (0.07 in DINO)')


def knn_class_scores(train_feats: Tensor,
                     train_labels: Tensor,
                     test_feats: Tensor,
                     num_classes: int,
                     k: int = 20,
                     temperature: float = 0.07,
                     chunk_size: int = 1024) -> Tensor:
    """Weighted kNN class scores.

    Args:
        train_feats (Tensor): Memory bank features, ``(N, D)``.
        train_labels (Tensor): Memory bank labels in ``[0, num_classes)``,
            ``(N,)``.
        test_feats (Tensor): Query features, ``(M, D)``.
        num_classes (int): Number of classes ``C``.
        k (int): Neighbours per query; clipped to ``N`` (:func:`knn_metrics`,
            which labels its results with ``k``, refuses ``k > N``).
        temperature (float): ``T`` in the vote weight ``exp(sim / T)``.
        chunk_size (int): Queries handled at once (bounds memory to
            ``chunk_size * N``).

    Returns:
        Tensor: Summed vote weights per class, ``(M, C)``.

    Raises:
        ValueError: for a ``k`` < 1 or a ``temperature`` <= 0
            (:func:`check_knn_args`).
    """
    if train_feats.shape[0] != train_labels.shape[0]:
        raise ValueError(f'{train_feats.shape[0]} train features but '
                         f'{train_labels.shape[0]} train labels')
    check_knn_args([k], temperature)
    k = min(k, train_feats.shape[0])
    train_feats = F.normalize(train_feats.float(), dim=1)
    test_feats = F.normalize(test_feats.float(), dim=1)
    scores = []
    for start in range(0, test_feats.shape[0], chunk_size):
        sim = test_feats[start:start + chunk_size] @ train_feats.T  # (m, N)
        top_sim, top_idx = sim.topk(k, dim=1)  # (m, k)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(sim.shape[0], num_classes, device=sim.device)
        votes.scatter_add_(1, train_labels[top_idx], weights)
        scores.append(votes)
    return torch.cat(scores)


def topk_accuracy(scores: Tensor, labels: Tensor,
                  topk: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Top-k accuracy in percent of class ``scores`` ``(M, C)`` against
    ``labels`` ``(M,)``; ``k`` larger than ``C`` is clipped to ``C``."""
    out = {}
    for k in topk:
        pred = scores.topk(min(k, scores.shape[1]), dim=1).indices
        correct = (pred == labels[:, None]).any(dim=1).float()
        out[f'top{k}'] = correct.mean().item() * 100
    return out


def pooled_features(outputs: Sequence[Tensor]) -> Tensor:
    """Global feature of a backbone's last output: average-pooled ``(B, C)``
    for a ``(B, C, H, W)`` map, the tensor itself when it is ``(B, C)``
    (e.g. a ViT class token), the token mean for ``(B, N, C)``."""
    feat = outputs[-1]
    if isinstance(feat, (list, tuple)):  # ViT with out_type='cls_token' ...
        feat = feat[-1]
    if feat.dim() == 4:
        return feat.mean(dim=(2, 3))
    if feat.dim() == 3:
        return feat.mean(dim=1)
    return feat


@torch.no_grad()
def extract_features(backbone: nn.Module, data_preprocessor: nn.Module,
                     dataloader: DataLoader) -> Tuple[Tensor, Tensor]:
    """Pooled backbone features and labels of a whole classification dataset.

    Args:
        backbone (nn.Module): Frozen backbone; run in eval mode.
        data_preprocessor (nn.Module): An mmpretrain ``ClsDataPreprocessor``
            (normalisation and batching).
        dataloader (DataLoader): Yields mmpretrain batches
            (``inputs``, ``data_samples`` with ``gt_label``).

    Returns:
        tuple[Tensor, Tensor]: Features ``(N, C)`` and labels ``(N,)``.
    """
    backbone.eval()
    feats, labels = [], []
    for batch in dataloader:
        data = data_preprocessor(batch, training=False)
        feats.append(pooled_features(backbone(data['inputs'])).cpu())
        labels.append(torch.cat([s.gt_label for s in data['data_samples']]))
    return torch.cat(feats), torch.cat(labels).long()


def check_split_sizes(num_train: int, num_val: int) -> None:
    """Refuse an empty train split (memory bank) or val split (queries).

    Raises:
        ValueError: naming the split that is empty.
    """
    for split, size in (('train', num_train), ('val', num_val)):
        if size == 0:
            raise ValueError(f'kNN: the {split} split is empty (0 samples); '
                             'expected at least one image')


def knn_metrics(train_feats: Tensor,
                train_labels: Tensor,
                val_feats: Tensor,
                val_labels: Tensor,
                ks: Sequence[int] = (20, ),
                temperature: float = 0.07) -> Dict[str, float]:
    """Weighted kNN top-1/top-5 of query features against a memory bank,
    one pair per ``k``.

    Args:
        train_feats (Tensor): Memory bank features, ``(N, D)``.
        train_labels (Tensor): Memory bank labels, ``(N,)``.
        val_feats (Tensor): Query features, ``(M, D)``.
        val_labels (Tensor): Query labels, ``(M,)``.
        ks (Sequence[int]): Numbers of neighbours, one result pair each.
        temperature (float): ``T`` in the vote weight ``exp(sim / T)``.

    Returns:
        dict[str, float]: Accuracies in percent,
        ``{'k20_top1': ..., 'k20_top5': ..., ...}``; the number of classes
        is the largest label in either split plus one.

    Raises:
        ValueError: for an empty split, or a ``k`` or ``temperature``
            :func:`check_knn_args` refuses (a ``k`` larger than the bank
            included: its results would be labelled with a ``k`` they do
            not have).
    """
    check_split_sizes(train_feats.shape[0], val_feats.shape[0])
    check_knn_args(ks, temperature, bank_size=train_feats.shape[0])
    num_classes = int(max(train_labels.max(), val_labels.max())) + 1
    results = {}
    for k in ks:
        scores = knn_class_scores(train_feats, train_labels, val_feats,
                                  num_classes, k, temperature)
        for name, value in topk_accuracy(scores, val_labels).items():
            results[f'k{k}_{name}'] = value
    return results


def knn_evaluate(backbone: nn.Module,
                 data_preprocessor: nn.Module,
                 train_loader: DataLoader,
                 val_loader: DataLoader,
                 ks: Sequence[int] = (20, ),
                 temperature: float = 0.07) -> Dict[str, float]:
    """Weighted kNN top-1/top-5 of ``backbone`` features, one pair per ``k``
    (:func:`extract_features` on both loaders, then :func:`knn_metrics`).

    Returns:
        dict[str, float]: ``{'k20_top1': ..., 'k20_top5': ..., ...}``.

    Raises:
        ValueError: as :func:`knn_metrics`, from the dataset sizes, before
            any feature is extracted.
    """
    sizes = [len(loader.dataset) for loader in (train_loader, val_loader)]
    check_split_sizes(*sizes)
    check_knn_args(ks, temperature, bank_size=sizes[0])
    train_feats, train_labels = extract_features(backbone, data_preprocessor,
                                                 train_loader)
    val_feats, val_labels = extract_features(backbone, data_preprocessor,
                                             val_loader)
    return knn_metrics(train_feats, train_labels, val_feats, val_labels, ks,
                       temperature)
