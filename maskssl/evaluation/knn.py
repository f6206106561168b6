"""Weighted k-nearest-neighbour evaluation of frozen features.

The protocol of Wu et al. 2018 ("Unsupervised feature learning via
non-parametric instance discrimination"), as used by DINO and mmselfsup:
features are L2-normalised, the ``k`` training samples with the highest cosine
similarity vote for their class with weight ``exp(sim / T)``, and top-1/top-5
accuracy is read from the summed votes.
"""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader


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
        k (int): Neighbours per query; clipped to ``N``.
        temperature (float): ``T`` in the vote weight ``exp(sim / T)``.
        chunk_size (int): Queries handled at once (bounds memory to
            ``chunk_size * N``).

    Returns:
        Tensor: Summed vote weights per class, ``(M, C)``.
    """
    if train_feats.shape[0] != train_labels.shape[0]:
        raise ValueError(f'{train_feats.shape[0]} train features but '
                         f'{train_labels.shape[0]} train labels')
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
    """
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
    """
    train_feats, train_labels = extract_features(backbone, data_preprocessor,
                                                 train_loader)
    val_feats, val_labels = extract_features(backbone, data_preprocessor,
                                             val_loader)
    return knn_metrics(train_feats, train_labels, val_feats, val_labels, ks,
                       temperature)
