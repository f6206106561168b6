import math

import torch

from maskssl.evaluation import (extract_features, knn_class_scores,
                                knn_dataloader, pooled_features,
                                topk_accuracy)
from maskssl.evaluation.knn_setup import build_backbone_and_preprocessor
from mmengine.config import Config


def test_scores_match_hand_computation():
    # 2-D unit features at known angles; labels 0, 0, 1.
    train = torch.tensor([[1., 0.], [0., 1.], [-1., 0.]])
    labels = torch.tensor([0, 0, 1])
    query = torch.tensor([[2., 0.]])  # not unit: must be normalised
    t = 0.5
    scores = knn_class_scores(train, labels, query, num_classes=2, k=2,
                              temperature=t)
    # neighbours: sim 1 (label 0) and sim 0 (label 0); sim -1 is dropped.
    expected0 = math.exp(1 / t) + math.exp(0 / t)
    assert torch.allclose(scores, torch.tensor([[expected0, 0.]]))
    scores3 = knn_class_scores(train, labels, query, 2, k=3, temperature=t)
    assert torch.allclose(scores3[0, 1], torch.tensor(math.exp(-1 / t)))


def test_chunking_and_k_clip_do_not_change_scores():
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(50, 8, generator=g), torch.randn(13, 8,
                                                                generator=g)
    labels = torch.randint(0, 4, (50, ), generator=g)
    full = knn_class_scores(train, labels, test, 4, k=20)
    chunked = knn_class_scores(train, labels, test, 4, k=20, chunk_size=4)
    assert torch.allclose(full, chunked)
    clipped = knn_class_scores(train, labels, test, 4, k=500)
    assert torch.allclose(clipped, knn_class_scores(train, labels, test, 4,
                                                    k=50))


def test_topk_accuracy():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7],
                           [0.3, 0.6, 0.1], [0.5, 0.4, 0.1]])
    labels = torch.tensor([0, 1, 0, 2])
    acc = topk_accuracy(scores, labels, topk=(1, 2, 5))
    assert acc['top1'] == 25.0
    assert acc['top2'] == 75.0  # rows 0, 1 (0.2 second), 2 (0.3 second)
    assert acc['top5'] == 100.0


def test_pooled_features_shapes():
    assert pooled_features([torch.ones(2, 5, 3, 3)]).shape == (2, 5)
    assert pooled_features((torch.ones(2, 7), )).shape == (2, 7)
    assert pooled_features([torch.ones(2, 4, 6)]).shape == (2, 6)


def test_features_from_toy_split(toy_root):
    cfg = Config(dict(model=dict(backbone=dict(type='ResNet', depth=18,
                                               norm_cfg=dict(type='SyncBN')))))
    backbone, pre = build_backbone_and_preprocessor(cfg)
    assert not any('SyncBatchNorm' in type(m).__name__
                   for m in backbone.modules())
    loader = knn_dataloader(toy_root, 'val', img_size=32, batch_size=8,
                            num_workers=0)
    feats, labels = extract_features(backbone, pre, loader)
    assert feats.shape == (16, 512)
    assert labels.shape == (16, ) and labels.dtype == torch.long
    expected = [int(line.split()[1]) for line in
                open(f'{toy_root}/meta/val.txt').read().split('\n') if line]
    assert labels.tolist() == expected


def test_random_init_is_seeded():
    """The random-init kNN baseline is the same network in every run, and
    building it leaves the global RNG alone."""
    cfg = Config(dict(model=dict(backbone=dict(type='ResNet', depth=18))))
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a, _ = build_backbone_and_preprocessor(cfg)
    assert torch.equal(torch.random.get_rng_state(), state)
    b, _ = build_backbone_and_preprocessor(cfg)
    c, _ = build_backbone_and_preprocessor(cfg, init_seed=1)
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not all(torch.equal(pa[k], pc[k]) for k in pa)
