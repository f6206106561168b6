"""The MaskDeep algorithm: branches, gradients, momentum update, roles."""
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.model import revert_sync_batchnorm
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def _model(out_indices=(1, 2, 3), base_momentum=0.01, num_points=6):
    channels = [64, 128, 256, 512]
    model = MODELS.build(dict(
        type='MaskDeep',
        base_momentum=base_momentum,
        backbone=dict(type='ResNet', depth=18, out_indices=out_indices),
        neck=dict(type='HierarchicalDeepMaskingNeck',
                  in_channels=[channels[i] for i in out_indices],
                  out_channels=32, num_groups=4, num_points=num_points),
        head=dict(type='MaskDeepHead', predictor=dict(
            type='NonLinearNeck', in_channels=6 * 32, hid_channels=64,
            out_channels=512, num_layers=2, with_bias=True,
            with_last_bn=False, with_avg_pool=False))))
    return revert_sync_batchnorm(model)


def _samples(roles, batch_size=2):
    return [DataSample(metainfo=dict(view_roles=roles))
            for _ in range(batch_size)]


@pytest.fixture(autouse=True)
def max_iters():
    MessageHub.get_current_instance().update_info('max_iters', 10)


def test_targets_carry_no_gradient():
    model = _model()
    views = [torch.randn(2, 3, 64, 64) for _ in range(3)]
    roles = ('global', 'global', 'target')
    loss = model.loss(views, _samples(roles))['loss']
    loss.backward()
    assert all(p.grad is None for p in model.target_net.parameters())
    assert all(p.grad is not None for p in model.backbone.parameters()
               if p.requires_grad)
    assert not model.momentum_targets(views).requires_grad


def test_momentum_update_follows_the_formula():
    """phi <- lambda phi + (1 - lambda) theta, lambda = 1 - 0.01 (cos(pi s /
    S) + 1) / 2 at update s of S (Eq. 1, cosine from 0.99 to 1)."""
    model = _model()
    views = [torch.randn(2, 3, 64, 64) for _ in range(2)]
    samples = _samples(('global', 'global'))
    model.loss(views, samples)  # update 0 copies the online encoder
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(torch.randn_like(p))
    phi = {k: v.clone() for k, v in model.target_net.module.named_parameters()}
    theta = dict(model.backbone.named_parameters())
    model.loss(views, samples)  # update 1 of 10
    lam = 1 - 0.01 * (math.cos(math.pi * 1 / 10) + 1) / 2
    for name, new in model.target_net.module.named_parameters():
        torch.testing.assert_close(
            new, lam * phi[name] + (1 - lam) * theta[name].detach())
    # buffers (BN statistics) are copied from the online encoder, as in
    # mmpretrain's BYOL (the target forward then moves them again)
    model.target_net.update_parameters(model.backbone)
    torch.testing.assert_close(
        model.target_net.module.layer1[0].bn1.running_mean,
        model.backbone.layer1[0].bn1.running_mean)


def test_target_views_never_reach_the_online_branch():
    model = _model()
    seen = {'online': [], 'momentum': []}
    model.backbone.register_forward_pre_hook(
        lambda m, args: seen['online'].append(args[0]))
    model.target_net.module.register_forward_pre_hook(
        lambda m, args: seen['momentum'].append(args[0]))
    sizes = [64, 64, 48, 48, 64, 32]
    roles = ('global', 'global', 'local', 'local', 'target', 'target')
    views = [torch.randn(2, 3, s, s) for s in sizes]
    pairs = []
    loss_module = model.head.loss_module
    loss_module.register_forward_pre_hook(lambda m, args: pairs.append(args[2]))
    model.loss(views, _samples(roles))
    assert [id(v) for v in seen['online']] == [id(v) for v in views[:4]]
    assert [id(v) for v in seen['momentum']] == [
        id(views[i]) for i in (0, 1, 4, 5)]
    # targets in momentum order: global 0, global 1, target 4, target 5;
    # global views predict the other global view, local views every target
    assert pairs[0].tolist() == [[False, True, True, True],
                                 [True, False, True, True],
                                 [True, True, True, True],
                                 [True, True, True, True]]


def test_target_is_pooled_last_stage():
    model = _model()
    views = [torch.randn(2, 3, 64, 64)]
    with torch.no_grad():
        model.target_net.update_parameters(model.backbone)
        expect = model.target_net.module(views[0])[-1].mean((2, 3))
        torch.testing.assert_close(model.momentum_targets(views)[0], expect)
    assert expect.shape == (2, 512)


def test_bad_roles_and_stages_are_reported():
    model = _model()
    views = [torch.randn(2, 3, 64, 64) for _ in range(2)]
    with pytest.raises(ValueError, match='view_roles'):
        model.loss(views, [DataSample() for _ in range(2)])
    with pytest.raises(ValueError, match='2 views'):
        model.loss(views[:1], _samples(('global', 'global')))
    with pytest.raises(ValueError, match='unknown view roles'):
        model.loss(views, _samples(('global', 'online')))
    with pytest.raises(ValueError, match='out_indices'):
        _model(out_indices=(1, 2))
    with pytest.raises(ValueError, match='predictor.in_channels=192 must be'):
        _model(num_points=8)
