"""SaliencyMoCoV2: Eq. 2's hard-negative term, which view is masked, and
what the queue receives."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

from maskssl.models.algorithms.saliency_masking import hard_negative_logits

FILLS = ['BlurFill', 'MeanFill', 'HighPassFill']


def _model(fill='BlurFill', **kwargs):
    cfg = dict(
        type='SaliencyMoCoV2',
        queue_len=32,
        feat_dim=16,
        momentum=0.001,
        backbone=dict(type='ResNet', depth=18, base_channels=16,
                      norm_cfg=dict(type='BN')),
        neck=dict(type='MoCoV2Neck', in_channels=128, hid_channels=32,
                  out_channels=16, with_avg_pool=True),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.2),
        fill=dict(type=fill) if isinstance(fill, str) else fill)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def _views(batch: int = 4, size: int = 64):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(batch, 3, size, size, generator=gen)
            for _ in range(2)]


def test_hard_negative_term_is_eq2():
    """Cross-entropy over [pos | queue | rho q.k-] / tau is Eq. 2 (with
    the positive in the denominator, as MoCo's InfoNCE)."""
    torch.manual_seed(0)
    n, c, m, tau, rho = 5, 8, 7, 0.2, 2.0
    q, k, k_neg = (torch.nn.functional.normalize(torch.randn(n, c), dim=1)
                   for _ in range(3))
    queue = torch.nn.functional.normalize(torch.randn(c, m), dim=0)
    head = MODELS.build(dict(type='ContrastiveHead', temperature=tau,
                             loss=dict(type='CrossEntropyLoss')))
    l_pos = (q * k).sum(1, keepdim=True)
    l_neg = torch.cat([q @ queue, hard_negative_logits(q, k_neg, rho)], 1)
    loss = head.loss(l_pos, l_neg)
    expected = 0.0
    for i in range(n):
        pos = math.exp(float(q[i] @ k[i]) / tau)
        negs = sum(math.exp(float(q[i] @ queue[:, j]) / tau)
                   for j in range(m))
        hard = math.exp(rho * float(q[i] @ k_neg[i]) / tau)
        expected -= math.log(pos / (pos + negs + hard))
    assert loss.item() == pytest.approx(expected / n, rel=1e-5)


def _spy_fill(model):
    calls = []
    original = model.fill.forward

    def forward(imgs, foreground, negative=False, generator=None):
        out = original(imgs, foreground, negative, generator)
        calls.append((imgs.clone(), negative, out.clone()))
        return out

    model.fill.forward = forward
    return calls


@pytest.mark.parametrize('fill', FILLS)
def test_query_only_masking_and_queue_gets_keys(fill):
    model = _model(fill)
    calls = _spy_fill(model)
    views = _views()
    im_q, im_k = (model.fill.input_transform(v) for v in views)
    losses = model.loss(views, [])
    assert torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert model.backbone.conv1.weight.grad is not None
    # the fill saw the query (positive) and the unmasked key (negative)
    assert len(calls) == 2
    (neg_in, neg_flag, neg_out), (pos_in, pos_flag, _) = calls
    assert neg_flag and not pos_flag
    torch.testing.assert_close(neg_in, im_k)
    torch.testing.assert_close(pos_in, im_q)
    # one distinct hard negative per sample, each made from its own key
    assert all(not torch.equal(neg_out[i], neg_out[j])
               for i in range(4) for j in range(i))
    # the queue received exactly the 4 keys of the unmasked key view
    assert int(model.queue_ptr) == 4
    with torch.no_grad():
        k = torch.nn.functional.normalize(model.encoder_k(im_k)[0], dim=1)
    torch.testing.assert_close(model.queue[:, :4].T, k, atol=1e-5, rtol=0)


@pytest.mark.parametrize('branch,positives', [('key', 1), ('both', 2)])
def test_key_and_both_branches(branch, positives):
    model = _model(mask_branch=branch, hard_negative=False)
    calls = _spy_fill(model)
    model.loss(_views(), [])
    assert [flag for _, flag, _ in calls] == [False] * positives


def test_without_saliency_or_hard_negative():
    model = _model(dict(type='MeanFill', masker=dict(
        type='SaliencyCellMasker', saliency=False)), saliency=None,
        hard_negative=False)
    calls = _spy_fill(model)
    model.loss(_views(), [])
    assert len(calls) == 1 and not calls[0][1]


def test_bad_mask_branch():
    with pytest.raises(ValueError, match="mask_branch='value'"):
        _model(mask_branch='value')


def _simclr(**kwargs):
    cfg = dict(
        type='SaliencySimCLR',
        backbone=dict(type='ResNet', depth=18, base_channels=16,
                      norm_cfg=dict(type='BN')),
        neck=dict(type='NonLinearNeck', in_channels=128, hid_channels=32,
                  out_channels=16, num_layers=2, with_avg_pool=True),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.1),
        fill=dict(type='BlurFill', masker=dict(type='SaliencyCellMasker',
                                               saliency=False)),
        saliency=None)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def test_simclr_hard_negative_joins_its_sample_rows():
    """Row r (q_i or k_i, i = r // 2) gets exactly one extra logit,
    rho z_r . z-_i, computed from the same forward batch."""
    model = _simclr()
    calls = _spy_fill(model)
    seen = {}
    original = model.head.loss

    def head_loss(pos, neg):
        seen['pos'], seen['neg'] = pos, neg
        return original(pos, neg)

    model.head.loss = head_loss
    views = _views()
    loss = model.loss(views, [])['loss']
    loss.backward()
    n = 4
    assert seen['neg'].shape == (2 * n, 2 * n - 2 + 1)
    (_, negative_flag, negs), (_, positive_flag, im_q) = calls
    assert negative_flag and not positive_flag
    im_k = model.fill.input_transform(views[1])
    pairs = torch.stack([im_q, im_k], 1).flatten(0, 1)
    with torch.no_grad():  # the same batch, so the same BN statistics
        z = torch.nn.functional.normalize(
            model.neck(model.backbone(torch.cat([pairs, negs])))[0], dim=1)
    z_pairs, z_neg = z[:2 * n], z[2 * n:]
    for r in range(2 * n):
        expected = 2.0 * float(z_pairs[r] @ z_neg[r // 2])
        assert seen['neg'][r, -1].item() == pytest.approx(expected,
                                                          abs=1e-5)
        partner = r + 1 if r % 2 == 0 else r - 1
        assert seen['pos'][r, 0].item() == pytest.approx(
            float(z_pairs[r] @ z_pairs[partner]), abs=1e-5)


def test_simclr_refuses_momentum_saliency():
    with pytest.raises(ValueError, match="saliency.source='momentum'"):
        _simclr(saliency=dict(type='SCDASaliency', source='momentum'))
