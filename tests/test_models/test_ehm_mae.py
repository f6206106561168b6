"""EHM's MAE host: the masker's mask drives MAE's encoder, and the attention
pass that guides it (EHM Sec. V-E) shares the patch embedding, gets no
gradient and leaves the model as it was."""
import copy

import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.models import MAEViT, VisionTransformer
from mmpretrain.registry import MODELS

from conftest import spy_masker
from maskssl.models import maskers
from maskssl.models.backbones.token_mask_mae_vit import keep_visible
from maskssl.models.maskers import BaseTokenMasker
from maskssl.models.utils.attention import (encoder_layer_with_attention,
                                            patch_attention)

ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)
GRID = 4  # img_size 32 / patch_size 8
N = GRID * GRID


def _cfg(**kwargs) -> dict:
    cfg = dict(
        type='EHMMAE',
        backbone=dict(type='TokenMaskMAEViT', arch=ARCH, img_size=32,
                      patch_size=8),
        neck=dict(type='MAEPretrainDecoder', num_patches=N, patch_size=8,
                  in_chans=3, embed_dim=32, decoder_embed_dim=16,
                  decoder_depth=1, decoder_num_heads=2, mlp_ratio=2.),
        head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=8,
                  loss=dict(type='PixelReconstructionLoss', criterion='L2')),
        attention_layers=2)
    cfg.update(kwargs)
    return cfg


def _model(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(_cfg(**kwargs))
    model.init_weights()
    return model


def test_keep_visible_gathers_and_restores():
    torch.manual_seed(0)
    tokens = torch.randn(3, 6, 5)
    mask = torch.tensor([[1, 0, 1, 0, 1, 0], [0, 0, 1, 1, 1, 0],
                         [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    visible, mask_f, ids_restore = keep_visible(tokens, mask)
    assert visible.shape == (3, 3, 5)
    for b in range(3):  # the visible tokens, in raster order
        assert torch.equal(visible[b], tokens[b][~mask[b]])
    assert torch.equal(mask_f, mask.float())
    # MAE's decoder: visible tokens then mask tokens, gathered back
    filler = torch.full((3, 3, 5), 7.0)
    restored = torch.gather(torch.cat([visible, filler], 1), 1,
                            ids_restore.unsqueeze(-1).expand(-1, -1, 5))
    assert torch.equal(restored[~mask], tokens[~mask])
    assert bool((restored[mask] == 7.0).all())


def test_keep_visible_refuses_ragged_counts():
    mask = torch.tensor([[1, 0, 0], [1, 1, 0]], dtype=torch.bool)
    with pytest.raises(ValueError, match=r'same number .*\[1, 2\]'):
        keep_visible(torch.zeros(2, 3, 4), mask)


def test_loss_uses_the_maskers_mask_and_the_first_blocks_attention():
    model = _model()
    seen = spy_masker(model)
    x = torch.randn(2, 3, 32, 32)
    loss = model.loss(x, None)['loss']
    loss.backward()
    mask = seen['mask']
    assert mask.shape == (2, N) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [12, 12]  # 0.75 of 16
    # the guidance: patch-to-patch attention of blocks 1-2 over all 16
    # patches and the class token, averaged over heads and blocks
    bb = model.backbone
    bb.eval()
    with torch.no_grad():
        t = bb.patch_embed(x)[0] + bb.pos_embed[:, 1:]
        t = torch.cat([(bb.cls_token + bb.pos_embed[:, :1]).expand(2, -1, -1),
                       t], 1)
        maps = []
        for layer in bb.layers[:2]:
            t, w = encoder_layer_with_attention(layer, t)
            maps.append(patch_attention(w))
    assert torch.allclose(seen['guidance'], (maps[0] + maps[1]) / 2,
                          atol=1e-6)
    # the loss is MAE's on that mask: recompute it by hand
    with torch.no_grad():
        tokens = bb.patch_embed(x)[0] + bb.pos_embed[:, 1:]
        vis = torch.stack([tokens[b][~mask[b]] for b in range(2)])
        h = torch.cat([(bb.cls_token + bb.pos_embed[:, :1]).expand(2, -1, -1),
                       vis], 1)
        for layer in bb.layers:
            h = layer(h)
        h = bb.norm1(h)
        _, _, ids_restore = keep_visible(tokens, mask)
        pred = model.neck(h, ids_restore)
        expected = model.head.loss(pred, x, mask.float())
    assert torch.allclose(loss.detach(), expected, atol=1e-6)


def test_attention_pass_has_no_gradient_no_draws_and_keeps_the_model():
    model = _model(attention_layers=4)
    model.train()
    state = copy.deepcopy(model.state_dict())
    tokens, _ = model.backbone.embed(torch.randn(2, 3, 32, 32))
    rng = torch.get_rng_state()
    weights = model.backbone.attention(tokens, 4)
    assert torch.equal(torch.get_rng_state(), rng)  # eval mode: no draws
    assert len(weights) == 4 and weights[0].shape == (2, 2, N + 1, N + 1)
    assert all(not w.requires_grad for w in weights)
    assert all(m.training for m in model.backbone.layers.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_only_the_masked_forward_trains_the_encoder():
    """Gradients reach the blocks the attention pass used only through the
    masked forward: zeroing the loss's dependence on the pass (the mask is
    discrete) leaves the gradients of a run with the mask given."""
    model = _model()
    seen = spy_masker(model)
    x = torch.randn(2, 3, 32, 32)
    model.loss(x, None)['loss'].backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()
             if p.grad is not None}
    model.zero_grad()
    tokens, _ = model.backbone.embed(x)
    latent, mask, ids = model.backbone.forward_masked(tokens, seen['mask'])
    model.head.loss(model.neck(latent, ids), x, mask).backward()
    for k, p in model.named_parameters():
        if k in grads:
            assert torch.allclose(grads[k], p.grad, atol=1e-6), k


def test_ema_source_guides_from_the_moving_average():
    model = _model(attention_source='ema', ema_momentum=0.5)
    assert model.attention_ema is not None
    x = torch.randn(2, 3, 32, 32)
    # CosineEMA's m stays at 0.5 for 2 of 10**9 iterations
    MessageHub.get_instance('test_ehm_ema').update_info('max_iters', 10**9)
    model.loss(x, None)  # the first update copies the online encoder
    ema = model.attention_ema.module
    online = dict(model.backbone.named_parameters())
    for k, p in ema.named_parameters():
        assert torch.equal(p, online[k]), k
    with torch.no_grad():  # the online encoder moves away from its copy
        for p in model.backbone.parameters():
            p.add_(0.1)
    before = {k: p.clone() for k, p in ema.named_parameters()}
    seen = spy_masker(model)
    model.loss(x, None)
    for k, p in ema.named_parameters():
        assert torch.allclose(p, 0.5 * before[k] + 0.5 * online[k]), k
    tokens, _ = ema.embed(x)
    expected = torch.stack([patch_attention(w) for w in
                            ema.attention(tokens, 2)]).mean(0)
    assert torch.allclose(seen['guidance'], expected, atol=1e-6)
    online_tokens, _ = model.backbone.embed(x)
    assert not torch.allclose(seen['guidance'], torch.stack([
        patch_attention(w) for w in model.backbone.attention(online_tokens, 2)
    ]).mean(0), atol=1e-4)


@pytest.mark.parametrize('name', [
    n for n in maskers.__all__
    if isinstance(getattr(maskers, n), type)
    and issubclass(getattr(maskers, n), BaseTokenMasker)
    and getattr(maskers, n) is not BaseTokenMasker
])
def test_every_fixed_count_masker_drives_ehm_mae(name):
    cls = getattr(maskers, name)
    masker = dict(type=name)
    if not cls.fixed_count:
        with pytest.raises(ValueError, match='same number of masked tokens'):
            _model(masker=masker)
        return
    model = _model(masker=masker)
    seen = spy_masker(model)
    loss = model.loss(torch.randn(2, 3, 32, 32), None)['loss']
    assert torch.isfinite(loss)
    counts = seen['mask'].sum(1)
    assert counts[0] == counts[1] and 0 < counts[0] < N


def test_weights_load_into_mmpretrain_vits():
    model = _model()
    state = model.backbone.state_dict()
    for cls in (MAEViT, VisionTransformer):
        target = cls(arch=ARCH, img_size=32, patch_size=8)
        assert not target.load_state_dict(state, strict=True).missing_keys


def test_unmasked_and_random_forwards_stay_maes():
    model = _model()
    x = torch.randn(2, 3, 32, 32)
    feats = model.extract_feat(x)
    ref = VisionTransformer.forward(model.backbone, x)
    assert torch.equal(feats[0], ref[0])
    # a plain call (kNN, feature extraction) gets the features too
    assert torch.equal(model.backbone(x)[0], ref[0])
    latent, mask, ids = model.backbone(x, mask=True)  # MAEViT's own mask
    assert latent.shape == (2, 1 + 4, 32) and mask.sum().item() == 24


def test_bad_arguments_name_the_key():
    with pytest.raises(ValueError, match='attention_layers=5 .* 4 blocks'):
        _model(attention_layers=5)
    with pytest.raises(ValueError, match="attention_source='teacher'"):
        _model(attention_source='teacher')
    with pytest.raises(ValueError, match='mask_ratio'):
        _model(masker=dict(type='EvolvedHierarchicalMasker', mask_ratio=1.0))
    with pytest.raises(TypeError, match='use TokenMaskMAEViT'):
        _model(backbone=dict(type='MAEViT', arch=ARCH, img_size=32,
                             patch_size=8))
    model = _model()
    with pytest.raises(ValueError, match='a .*48, 48.* patch grid'):
        model.loss(torch.randn(1, 3, 48, 48), None)
    with pytest.raises(ValueError, match='guided by a similarity.*got None'):
        model.masker(2, (GRID, GRID), None)  # similarity guidance missing
