"""MaskDeep's predictor and multi-target cosine loss (Eq. 2)."""
import math

import pytest
import torch
from mmengine.model import revert_sync_batchnorm
from mmpretrain.models.losses import CosineSimilarityLoss
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from maskssl.models.losses import multi_target_cosine_loss

OFF_DIAGONAL = torch.tensor([[False, True], [True, False]])


def test_loss_equals_hand_computation():
    # V=2 online views, B=1, K=2 groups, D=2; T=3 targets
    preds = torch.tensor([[[[1., 0.], [0., 1.]]], [[[1., 0.], [1., 1.]]]])
    targets = torch.tensor([[[1., 0.]], [[0., 2.]], [[0., -1.]]])
    pairs = torch.tensor([[False, True, True], [True, False, True]])
    # view 0: 2 - 2cos over (p00,t1), (p01,t1), (p00,t2), (p01,t2)
    view0 = (2 + 0 + 2 + 4) / 4
    # view 1: (p10,t0), (p11,t0), (p10,t2), (p11,t2)
    view1 = (0 + (2 - math.sqrt(2)) + 2 + (2 + math.sqrt(2))) / 4
    # 'sum' adds 4 (1 - cos) = 2 (2 - 2cos) over every pair; 'mean' is 2 x
    # the mean over views of each view's mean 4 (1 - cos)
    assert multi_target_cosine_loss(preds, targets, pairs).item() == \
        pytest.approx(2 * 4 * (view0 + view1))
    assert multi_target_cosine_loss(preds, targets, pairs, 'mean').item() == \
        pytest.approx(4 * (view0 + view1) / 2)


def _literal_eq2(preds, targets):
    """Eq. 2 written out: -4 sum_i sum_j (<p(H_i^1), G_j^2> + <p(H_i^2),
    G_j^1>) with explicit loops, averaged over the batch. ``targets`` are
    (G^1, G^2, extra_1 .. extra_N): view 1 predicts G^2 and the extras, view 2
    predicts G^1 and the extras."""
    batch, groups = preds.shape[1], preds.shape[2]
    extra = list(range(2, targets.shape[0]))
    total = 0
    for b in range(batch):
        for i in range(groups):
            for view, other in ((0, 1), (1, 0)):
                for j in [other] + extra:
                    total = total + torch.nn.functional.cosine_similarity(
                        preds[view, b, i], targets[j, b], dim=0)
    return -4 * total / batch


def _global_and_extra_pairs(num_extra):
    pairs = torch.ones(2, 2 + num_extra, dtype=torch.bool)
    pairs[0, 0] = pairs[1, 1] = False
    return pairs


def test_sum_gradient_equals_literal_eq2():
    """K = 3 groups, N = 2 extra targets, B = 4."""
    torch.manual_seed(0)
    num_groups, num_extra = 3, 2
    preds = torch.randn(2, 4, num_groups, 6, dtype=torch.float64,
                        requires_grad=True)
    targets = torch.randn(2 + num_extra, 4, 6, dtype=torch.float64)
    pairs = _global_and_extra_pairs(num_extra)
    ours, = torch.autograd.grad(
        multi_target_cosine_loss(preds, targets, pairs), preds)
    literal, = torch.autograd.grad(_literal_eq2(preds, targets), preds)
    torch.testing.assert_close(ours, literal)
    # the value is Eq. 2 plus the constant 4 x (2 views x K x (N + 1) pairs)
    torch.testing.assert_close(
        multi_target_cosine_loss(preds, targets, pairs),
        _literal_eq2(preds, targets) + 4 * 2 * num_groups * (num_extra + 1))


def test_sum_over_mean_is_k_times_n_plus_1():
    torch.manual_seed(0)
    num_groups, num_extra = 3, 2
    preds = torch.randn(2, 4, num_groups, 6, dtype=torch.float64)
    targets = torch.randn(2 + num_extra, 4, 6, dtype=torch.float64)
    pairs = _global_and_extra_pairs(num_extra)
    total = multi_target_cosine_loss(preds, targets, pairs, 'sum')
    mean = multi_target_cosine_loss(preds, targets, pairs, 'mean')
    assert (total / mean).item() == pytest.approx(
        num_groups * (num_extra + 1), rel=1e-12)


def test_loss_is_symmetric_in_the_two_views():
    torch.manual_seed(0)
    preds, targets = torch.randn(2, 4, 3, 8), torch.randn(2 + 3, 4, 8)
    pairs = torch.ones(2, 5, dtype=torch.bool)
    pairs[0, 0] = pairs[1, 1] = False
    swapped_targets = targets[[1, 0, 2, 3, 4]]
    swapped_pairs = pairs[[1, 0]][:, [1, 0, 2, 3, 4]]
    torch.testing.assert_close(
        multi_target_cosine_loss(preds, targets, pairs),
        multi_target_cosine_loss(preds.flip(0), swapped_targets,
                                 swapped_pairs))
    torch.testing.assert_close(
        multi_target_cosine_loss(preds, targets, pairs, 'mean'),
        multi_target_cosine_loss(preds.flip(0), swapped_targets,
                                 swapped_pairs, 'mean'))


def test_k1_without_extra_targets_is_byol():
    """BYOL's 2 (L + L~) with 2 - 2cos terms, whichever the reduction."""
    torch.manual_seed(0)
    preds, targets = torch.randn(2, 6, 1, 16), torch.randn(2, 6, 16)
    cos = CosineSimilarityLoss(shift_factor=2, scale_factor=2)
    byol = 2 * (cos(preds[0, :, 0], targets[1]) + cos(preds[1, :, 0],
                                                        targets[0]))
    for reduction in ('sum', 'mean'):
        torch.testing.assert_close(
            multi_target_cosine_loss(preds, targets, OFF_DIAGONAL, reduction),
            byol)


def test_mean_scale_is_independent_of_groups_and_targets():
    torch.manual_seed(0)
    preds, targets = torch.randn(2, 4, 1, 8), torch.randn(2, 4, 8)
    base = multi_target_cosine_loss(preds, targets, OFF_DIAGONAL, 'mean')
    # K=16 copies of each group and N=4 extra copies of the other target
    many = [multi_target_cosine_loss(
        preds.expand(-1, -1, 16, -1),
        torch.cat([targets, targets[1:].expand(2, -1, -1),
                   targets[:1].expand(2, -1, -1)]),
        torch.tensor([[False, True, True, True, False, False],
                      [True, False, False, False, True, True]]), reduction)
        for reduction in ('mean', 'sum')]
    torch.testing.assert_close(base, many[0])
    torch.testing.assert_close(16 * 3 * base, many[1])


def test_loss_rejects_bad_pairs():
    with pytest.raises(ValueError, match='pairs'):
        multi_target_cosine_loss(torch.zeros(2, 1, 1, 4), torch.zeros(2, 1, 4),
                                 torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match='at least one target'):
        multi_target_cosine_loss(torch.zeros(2, 1, 1, 4), torch.zeros(2, 1, 4),
                                 torch.eye(2, dtype=torch.bool) & False)
    with pytest.raises(ValueError, match='reduction'):
        multi_target_cosine_loss(torch.zeros(2, 1, 1, 4), torch.zeros(2, 1, 4),
                                 OFF_DIAGONAL, 'avg')
    with pytest.raises(ValueError, match='model.head.loss.reduction'):
        MODELS.build(dict(type='MultiTargetCosineLoss', reduction='avg'))


def test_predictor_shapes():
    head = revert_sync_batchnorm(MODELS.build(dict(
        type='MaskDeepHead',
        predictor=dict(type='NonLinearNeck', in_channels=12 * 512,
                       hid_channels=4096, out_channels=2048, num_layers=2,
                       with_bias=True, with_last_bn=False,
                       with_avg_pool=False))))
    layers = [type(m) for m in head.predictor.modules()]
    assert layers.count(torch.nn.Linear) == 2
    assert sum(issubclass(t, _BatchNorm) for t in layers) == 1
    groups = torch.randn(3, 16, 12 * 512)
    assert head.predict_groups(groups).shape == (3, 16, 2048)
    loss = head.loss([groups, groups], torch.randn(2, 3, 2048), OFF_DIAGONAL)
    # 2 views x K=16 groups x 1 target, each term 4 (1 - cos) in [0, 8]
    assert loss.shape == () and 0 <= loss.item() <= 8 * 2 * 16
