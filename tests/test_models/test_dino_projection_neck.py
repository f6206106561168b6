"""DINO's projection head as MST's neck: the MLP, the weight-normalised last
layer with g = 1 or learnt, and BN statistics updated from the global views only."""
import copy
import math
import re

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn

from maskssl.engine.hooks.freeze_last_layer_hook import params_under
from maskssl.models.necks.dino_projection_neck import (DINOProjectionNeck,
                                                       frozen_bn_stats,
                                                       normalised_prototypes)

C, HIDDEN, BOTTLENECK, K = 6, 12, 4, 10


def _neck(use_bn=False, seed=0, norm_last_layer=True):
    torch.manual_seed(seed)
    return MODELS.build(
        dict(type='DINOProjectionNeck', in_channels=C, out_channels=K,
             hidden_channels=HIDDEN, bottleneck_channels=BOTTLENECK,
             use_bn=use_bn, norm_last_layer=norm_last_layer))


def _bn_state(neck):
    return {k: v.clone() for k, v in neck.state_dict().items()
            if 'running' in k or 'num_batches' in k}


@pytest.mark.parametrize('use_bn', [False, True])
def test_output_shape_from_tuple_and_tensor(use_bn):
    neck = _neck(use_bn)
    tokens = torch.randn(5, C)
    out = neck((torch.randn(5, 3), tokens))
    assert out.shape == (5, K)
    neck.eval()
    torch.testing.assert_close(neck((tokens, )), neck(tokens))


def test_layers_and_dino_init():
    neck = _neck(use_bn=True)
    kinds = [type(m) for m in neck.mlp]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.GELU,
                     nn.Linear, nn.BatchNorm1d, nn.GELU, nn.Linear]
    linears = [m for m in neck.mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (C, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, BOTTLENECK)]
    assert [type(m) for m in _neck(use_bn=False).mlp] == [
        nn.Linear, nn.GELU, nn.Linear, nn.GELU, nn.Linear]
    big = DINOProjectionNeck(in_channels=64, out_channels=256,
                             hidden_channels=128, bottleneck_channels=64)
    weights = torch.cat([m.weight.flatten() for m in big.mlp
                         if isinstance(m, nn.Linear)])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    assert all(torch.count_nonzero(m.bias) == 0 for m in big.mlp
               if isinstance(m, nn.Linear))
    # last layer: nn.Linear's default U(-1/sqrt(D), 1/sqrt(D)), std
    # 1/sqrt(3D), as in DINO where it is created after the init pass
    bound = 1 / math.sqrt(64)
    assert big.last_layer.bias is None
    assert big.last_layer.weight.abs().max().item() <= bound
    assert big.last_layer.weight.std().item() == pytest.approx(
        bound / math.sqrt(3), rel=0.05)


def test_forward_equals_hand_composition():
    neck = _neck(use_bn=False)
    x = torch.randn(3, C)
    l1, l2, l3 = [m for m in neck.mlp if isinstance(m, nn.Linear)]
    h = F.gelu(x @ l1.weight.T + l1.bias)
    h = F.gelu(h @ l2.weight.T + l2.bias)
    z = h @ l3.weight.T + l3.bias
    w = neck.last_layer.weight
    expected = torch.empty(3, K)
    for n in range(3):
        for k in range(K):
            expected[n, k] = (z[n] @ w[k]) / (z[n].norm() * w[k].norm())
    torch.testing.assert_close(neck(x), expected)


def test_last_layer_is_weight_norm_with_g_one():
    torch.manual_seed(0)
    x, weight = torch.randn(4, BOTTLENECK), torch.randn(K, BOTTLENECK)
    ref = nn.Linear(BOTTLENECK, K, bias=False)
    ref.weight.data.copy_(weight)
    ref = nn.utils.parametrizations.weight_norm(ref)
    ref.parametrizations.weight.original0.data.fill_(1)
    torch.testing.assert_close(ref.weight.norm(dim=1), torch.ones(K))
    torch.testing.assert_close(normalised_prototypes(x, weight),
                               ref(F.normalize(x, dim=-1)))


def test_last_layer_scale_does_not_change_the_output():
    neck = _neck()
    x = torch.randn(4, C)
    before = neck(x)
    assert before.abs().max().item() <= 1 + 1e-6  # cosine similarities
    with torch.no_grad():
        neck.last_layer.weight.mul_(7.5)
        neck.last_layer.weight[2] *= 0.01  # a per-row scale too
    torch.testing.assert_close(neck(x), before)


def test_learnt_norms_are_weight_norm_with_g():
    # norm_last_layer=False: DINO's weight_norm layer with g learnt
    neck = _neck(norm_last_layer=False)
    assert neck.last_layer.weight_g.shape == (K, 1)
    assert torch.equal(neck.last_layer.weight_g, torch.ones(K, 1))
    x = torch.randn(4, C)
    torch.testing.assert_close(neck(x), _neck()(x))  # g = 1 at init
    g = torch.rand(K, 1) * 3
    with torch.no_grad():
        neck.last_layer.weight_g.copy_(g)
    ref = nn.Linear(BOTTLENECK, K, bias=False)
    ref.weight.data.copy_(neck.last_layer.weight)
    ref = nn.utils.parametrizations.weight_norm(ref)
    ref.parametrizations.weight.original0.data.copy_(g)
    torch.testing.assert_close(
        neck(x), ref(F.normalize(neck.mlp(x), dim=-1)))
    out = neck(x)
    out.sum().backward()
    assert neck.last_layer.weight_g.grad.abs().sum() > 0
    teacher = copy.deepcopy(neck)
    torch.testing.assert_close(teacher(x), out)
    assert set(neck.state_dict()) == set(_neck().state_dict()) | {
        'last_layer.weight_g'}
    # FreezeLastLayerHook's default prefix freezes g with the prototypes
    model = nn.Module()
    model.neck = neck
    assert set(params_under(model, 'neck.last_layer')) == {
        'neck.last_layer.weight', 'neck.last_layer.weight_g'}


def test_bn_stats_frozen_for_local_views_and_updated_for_global():
    neck = _neck(use_bn=True)
    neck.train()
    x = torch.randn(6, C)
    frozen = copy.deepcopy(neck)
    initial = _bn_state(neck)

    out_frozen = frozen(x, update_bn_stats=False)
    for key, value in _bn_state(frozen).items():
        assert torch.equal(value, initial[key]), key
    # still normalised with the batch statistics
    out = neck(x, update_bn_stats=True)
    torch.testing.assert_close(out_frozen, out)
    moved = _bn_state(neck)
    for key in initial:
        assert not torch.equal(moved[key], initial[key]), key
    assert moved['mlp.1.num_batches_tracked'].item() == 1
    bn = neck.mlp[1]
    h = x @ neck.mlp[0].weight.T + neck.mlp[0].bias
    torch.testing.assert_close(bn.running_mean, 0.1 * h.mean(0).detach())
    assert all(m.track_running_stats for m in frozen.modules()
               if isinstance(m, nn.BatchNorm1d))

    # the gradient flows through the frozen forward
    frozen.zero_grad()
    frozen(x, update_bn_stats=False).sum().backward()
    assert frozen.mlp[0].weight.grad.abs().sum() > 0


def test_bn_stats_frozen_in_eval_mode():
    neck = _neck(use_bn=True)
    neck.train()
    neck(torch.randn(6, C))  # non-trivial running statistics
    neck.eval()
    x = torch.randn(3, C)
    stats = _bn_state(neck)
    out = neck(x, update_bn_stats=False)
    for key, value in _bn_state(neck).items():
        assert torch.equal(value, stats[key]), key
    torch.testing.assert_close(out, neck(x, update_bn_stats=True))


def test_bn_stats_frozen_for_sync_bn_single_process():
    neck = nn.SyncBatchNorm.convert_sync_batchnorm(_neck(use_bn=True))
    neck.train()
    stats = _bn_state(neck)
    neck(torch.randn(6, C), update_bn_stats=False)
    for key, value in _bn_state(neck).items():
        assert torch.equal(value, stats[key]), key


def test_frozen_bn_stats_restores_tracking_after_an_error():
    neck = _neck(use_bn=True)
    neck.mlp[4].track_running_stats = False  # a BN that tracks nothing
    neck.train()
    with pytest.raises(ValueError, match='more than 1 value per channel'):
        neck(torch.randn(1, C), update_bn_stats=False)  # BN needs B > 1
    assert neck.mlp[1].track_running_stats is True
    assert neck.mlp[4].track_running_stats is False
    with frozen_bn_stats(neck):
        assert not any(m.track_running_stats for m in neck.mlp
                       if isinstance(m, nn.BatchNorm1d))


def test_deepcopy_and_state_dict():
    neck = _neck(use_bn=True)
    neck.train()
    neck(torch.randn(6, C))
    neck.eval()
    x = torch.randn(3, C)
    teacher = copy.deepcopy(neck)
    torch.testing.assert_close(teacher(x), neck(x))
    state = neck.state_dict()
    assert 'last_layer.weight' in state
    assert not any('weight_g' in k or 'weight_v' in k for k in state)
    other = _neck(use_bn=True, seed=1).eval()
    assert not torch.allclose(other(x), neck(x))
    other.load_state_dict(state)
    torch.testing.assert_close(other(x), neck(x))


@pytest.mark.parametrize('key, value, expected', [
    ('in_channels', 0, 'in_channels=0 (int); expected a positive int'),
    ('out_channels', 'abc', "out_channels='abc' (str); expected a positive"),
    ('hidden_channels', 2.5, 'hidden_channels=2.5 (float)'),
    ('bottleneck_channels', True, 'bottleneck_channels=True (bool)'),
    ('use_bn', 'yes', "use_bn='yes' (str); expected a bool"),
    ('norm_last_layer', 0, 'norm_last_layer=0 (int); expected a bool'),
])
def test_invalid_arguments(key, value, expected):
    kwargs = dict(in_channels=C, out_channels=K)
    kwargs[key] = value
    with pytest.raises(ValueError,
                       match=re.escape(f'DINOProjectionNeck: {expected}')):
        DINOProjectionNeck(**kwargs)


@pytest.mark.parametrize('shape', [(4, C + 1), (4, C, 2)])
def test_wrong_input_shape(shape):
    with pytest.raises(ValueError, match=re.escape(
            f'expects class tokens of shape (B, {C})')):
        _neck()((torch.randn(*shape), ))
