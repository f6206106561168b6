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
    expect = 4 * (view0 + view1) / 2
    assert multi_target_cosine_loss(preds, targets, pairs).item() == \
        pytest.approx(expect)


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


def test_k1_without_extra_targets_is_byol():
    """BYOL's 2 (L + L~) with 2 - 2cos terms."""
    torch.manual_seed(0)
    preds, targets = torch.randn(2, 6, 1, 16), torch.randn(2, 6, 16)
    cos = CosineSimilarityLoss(shift_factor=2, scale_factor=2)
    byol = 2 * (cos(preds[0, :, 0], targets[1]) + cos(preds[1, :, 0],
                                                        targets[0]))
    torch.testing.assert_close(
        multi_target_cosine_loss(preds, targets, OFF_DIAGONAL), byol)


def test_scale_is_independent_of_groups_and_targets():
    torch.manual_seed(0)
    preds, targets = torch.randn(2, 4, 1, 8), torch.randn(2, 4, 8)
    base = multi_target_cosine_loss(preds, targets, OFF_DIAGONAL)
    # K=16 copies of each group and N=4 extra copies of the other target
    many = multi_target_cosine_loss(
        preds.expand(-1, -1, 16, -1),
        torch.cat([targets, targets[1:].expand(2, -1, -1),
                   targets[:1].expand(2, -1, -1)]),
        torch.tensor([[False, True, True, True, False, False],
                      [True, False, False, False, True, True]]))
    torch.testing.assert_close(base, many)


def test_loss_rejects_bad_pairs():
    with pytest.raises(ValueError, match='pairs'):
        multi_target_cosine_loss(torch.zeros(2, 1, 1, 4), torch.zeros(2, 1, 4),
                                 torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match='at least one target'):
        multi_target_cosine_loss(torch.zeros(2, 1, 1, 4), torch.zeros(2, 1, 4),
                                 torch.eye(2, dtype=torch.bool) & False)


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
    assert loss.shape == () and 0 <= loss.item() <= 16
