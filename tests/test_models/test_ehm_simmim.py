"""EHM's SimMIM hosts: the masker's mask, on SimMIM's mask-patch grid and
spread to the tokens, drives SimMIM's ViT and Swin encoders; the guidance
pass shares the patch embedding, gets no gradient and leaves the model as it
was."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.models import SwinTransformer, VisionTransformer
from mmpretrain.models.selfsup.simmim import SimMIMSwinTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from conftest import REPO, spy_masker
from maskssl.models import maskers
from maskssl.models.algorithms.ehm_simmim import upsample_patch_mask
from maskssl.models.backbones.token_mask_simmim_swin import \
    cosine_similarity_map
from maskssl.models.backbones.token_mask_simmim_vit import (
    mask_patch_layout, pool_token_guidance)
from maskssl.models.maskers import BaseTokenMasker
from maskssl.models.utils.attention import (encoder_layer_with_attention,
                                            patch_attention)

VIT_ARCH = dict(embed_dims=32, num_layers=4, num_heads=2,
                feedforward_channels=64)
VIT_GRID = 4  # img_size 32 / patch_size 8
SWIN_ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 1, 2, 2])
SWIN_GRID = 16  # img_size 64 / patch_size 4; stages 16, 8, 4, 2
L1 = dict(type='PixelReconstructionLoss', criterion='L1', channel=3)


def _vit_cfg(backbone=None, **kwargs) -> dict:
    cfg = dict(
        type='EHMSimMIM',
        backbone=dict(type='TokenMaskSimMIMViT', arch=VIT_ARCH, img_size=32,
                      patch_size=8),
        neck=dict(type='SimMIMLinearDecoder', in_channels=32,
                  encoder_stride=8),
        head=dict(type='SimMIMHead', patch_size=8, loss=L1),
        attention_layers=2)
    cfg['backbone'].update(backbone or {})
    cfg.update(kwargs)
    return cfg


def _swin_cfg(backbone=None, **kwargs) -> dict:
    cfg = dict(
        type='EHMSimMIM',
        backbone=dict(type='TokenMaskSimMIMSwin', arch=SWIN_ARCH, img_size=64,
                      mask_patch_size=16, drop_path_rate=0.,
                      stage_cfgs=dict(block_cfgs=dict(window_size=2))),
        neck=dict(type='SimMIMLinearDecoder', in_channels=128,
                  encoder_stride=32),
        head=dict(type='SimMIMHead', patch_size=4, loss=L1),
        attention_layers=3)
    cfg['backbone'].update(backbone or {})
    cfg.update(kwargs)
    return cfg


def _build(cfg: dict):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _spy(model):
    """Record the masker's grid, guidance and mask (:func:`spy_masker`), and
    the token mask the masked forward gets."""
    seen = spy_masker(model)
    forward_masked = model.backbone.forward_masked

    def forward_spy(tokens, mask):
        seen['token_mask'] = mask
        return forward_masked(tokens, mask)

    model.backbone.forward_masked = forward_spy
    return seen


def _hand_upsample(mask, grid, scale):
    gh, gw = grid
    out = torch.zeros(mask.shape[0], gh * scale * gw * scale,
                      dtype=torch.bool)
    for b in range(mask.shape[0]):
        for r in range(gh * scale):
            for c in range(gw * scale):
                out[b, r * gw * scale + c] = mask[b, (r // scale) * gw +
                                                  c // scale]
    return out


def _hand_l1(rec, x, token_mask, grid, patch):
    """SimMIM's loss by hand: mean |rec - x| over the channels of the
    pixels of masked tokens."""
    total, count = 0.0, 0
    for b in range(x.shape[0]):
        for y in range(x.shape[2]):
            for z in range(x.shape[3]):
                if token_mask[b, (y // patch) * grid[1] + z // patch]:
                    total += (rec[b, :, y, z] - x[b, :, y, z]).abs().sum()
                    count += 3
    return total / count


# pure functions


def test_mask_patch_layout():
    assert mask_patch_layout((48, 48), 4, 32, 'X') == ((6, 6), 8)
    assert mask_patch_layout((14, 14), 16, None, 'X') == ((14, 14), 1)
    assert mask_patch_layout((14, 14), 16, 32, 'X') == ((7, 7), 2)
    with pytest.raises(ValueError, match='X: mask_patch_size=24; expected a '
                       'multiple of the 16-px'):
        mask_patch_layout((14, 14), 16, 24, 'X')
    with pytest.raises(ValueError, match='mask_patch_size=32.*7x7 token'):
        mask_patch_layout((7, 7), 16, 32, 'X')
    with pytest.raises(ValueError, match="mask_patch_size='32'"):
        mask_patch_layout((14, 14), 16, '32', 'X')


def test_pool_token_guidance_matches_loops():
    torch.manual_seed(0)
    h, w, s = 4, 6, 2
    n = h * w
    sim = torch.rand(2, n, n)
    imp = torch.rand(2, n)
    pooled_sim = pool_token_guidance(sim, (h, w), s)
    pooled_imp = pool_token_guidance(imp, (h, w), s)
    gw = w // s
    m = (h // s) * gw
    assert pooled_sim.shape == (2, m, m) and pooled_imp.shape == (2, m)

    def cell(i):  # token -> mask patch
        return (i // w) // s * gw + (i % w) // s

    for b in range(2):
        for p in range(m):
            members = [i for i in range(n) if cell(i) == p]
            assert len(members) == s * s
            assert torch.isclose(pooled_imp[b, p], imp[b, members].mean())
            for q in range(m):
                others = [j for j in range(n) if cell(j) == q]
                expected = sum(sim[b, i, j] for i in members
                               for j in others) / (s**4)
                assert torch.isclose(pooled_sim[b, p, q], expected)
    assert pool_token_guidance(sim, (h, w), 1) is sim


def test_upsample_patch_mask_matches_loops():
    torch.manual_seed(0)
    mask = torch.rand(3, 2 * 3) > 0.5
    up = upsample_patch_mask(mask, (2, 3), 4)
    assert torch.equal(up, _hand_upsample(mask, (2, 3), 4))
    assert torch.equal(up.sum(1), mask.sum(1) * 16)
    assert upsample_patch_mask(mask, (2, 3), 1) is mask


def test_cosine_similarity_map_matches_loops():
    torch.manual_seed(0)
    feats = torch.randn(2, 5, 2, 3)
    feats[1, :, 0, 1] = 0  # a zero vector: similarity 0
    sim = cosine_similarity_map(feats)
    assert sim.shape == (2, 6, 6)
    for b in range(2):
        for i in range(6):
            for j in range(6):
                fi = feats[b, :, i // 3, i % 3]
                fj = feats[b, :, j // 3, j % 3]
                norm = fi.norm() * fj.norm()
                expected = fi @ fj / norm if norm > 0 else torch.tensor(0.)
                assert torch.isclose(sim[b, i, j], expected, atol=1e-6)


# ViT


def test_vit_loss_uses_the_maskers_mask_and_the_first_blocks_attention():
    model = _build(_vit_cfg())
    seen = _spy(model)
    x = torch.randn(2, 3, 32, 32)
    loss = model.loss(x, [DataSample(), DataSample()])['loss']  # no .mask
    loss.backward()
    n = VIT_GRID * VIT_GRID
    assert seen['grid'] == (VIT_GRID, VIT_GRID)
    mask = seen['mask']
    assert mask.shape == (2, n) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [10, 10]  # round(16 * 0.6)
    assert torch.equal(seen['token_mask'], mask)  # one token per patch
    bb = model.backbone
    assert bb.mask_token.grad is not None and bb.mask_token.grad.abs().sum()
    # the guidance: patch-to-patch attention of blocks 1-2 over all
    # patches and the class token, averaged over heads and blocks
    bb.eval()
    with torch.no_grad():
        t = bb.patch_embed(x)[0]
        t = torch.cat([bb.cls_token.expand(2, -1, -1), t], 1) + bb.pos_embed
        maps = []
        for layer in bb.layers[:2]:
            t, w = encoder_layer_with_attention(layer, t)
            maps.append(patch_attention(w))
    assert torch.allclose(seen['guidance'], (maps[0] + maps[1]) / 2,
                          atol=1e-6)
    # the loss is SimMIM's on that mask, by hand, from the masked forward
    # of MSTVisionTransformer (mask before the position embedding)
    bb.train()
    with torch.no_grad():
        feats = bb(x, mask)[0]
        assert feats.shape == (2, 32, VIT_GRID, VIT_GRID)
        rec = model.neck(feats)
        expected = _hand_l1(rec, x, mask, (VIT_GRID, VIT_GRID), 8)
    assert torch.allclose(loss.detach(), expected, atol=1e-5)


def test_vit_mask_patches_spread_to_the_tokens():
    """mask_patch_size 16 over 8-px patches: a 2 x 2 mask-patch grid, each
    covering 2 x 2 tokens; the guidance is averaged onto it."""
    model = _build(_vit_cfg(backbone=dict(mask_patch_size=16)))
    assert model.backbone.mask_grid == (2, 2)
    assert model.backbone.mask_scale == 2
    seen = _spy(model)
    x = torch.randn(3, 3, 32, 32)
    loss = model.loss(x, None)['loss']
    assert torch.isfinite(loss)
    assert seen['grid'] == (2, 2) and seen['mask'].shape == (3, 4)
    assert seen['mask'].sum(1).tolist() == [2, 2, 2]  # round(4 * 0.6)
    assert torch.equal(seen['token_mask'],
                       _hand_upsample(seen['mask'], (2, 2), 2))
    assert seen['token_mask'].sum(1).tolist() == [8, 8, 8]
    tokens, _ = model.backbone.embed(x)
    token_guidance = torch.stack([
        patch_attention(w) for w in model.backbone.attention(tokens, 2)
    ]).mean(0)
    assert torch.allclose(seen['guidance'],
                          pool_token_guidance(token_guidance, (4, 4), 2),
                          atol=1e-6)


def test_vit_guidance_pass_has_no_gradient_no_draws_and_keeps_the_model():
    model = _build(_vit_cfg(backbone=dict(drop_path_rate=0.5),
                            attention_layers=4))
    model.train()
    state = copy.deepcopy(model.state_dict())
    tokens, _ = model.backbone.embed(torch.randn(2, 3, 32, 32))
    assert tokens.requires_grad
    rng = torch.get_rng_state()
    guidance = model.backbone.mask_guidance(tokens, 4, 'similarity')
    assert torch.equal(torch.get_rng_state(), rng)  # eval mode: no draws
    assert guidance.shape == (2, 16, 16) and not guidance.requires_grad
    assert all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


SURE_TO_MASK = dict(RandomTokenMasker=dict(p=0.5),
                    AttentionGuidedMasker=dict(num=2, p=1.0))


@pytest.mark.parametrize('name', [
    n for n in maskers.__all__
    if isinstance(getattr(maskers, n), type)
    and issubclass(getattr(maskers, n), BaseTokenMasker)
    and getattr(maskers, n) is not BaseTokenMasker
])
def test_every_masker_drives_ehm_simmim(name):
    """SimMIM keeps every token, so maskers with a varying count work
    too."""
    # SimMIM's loss is a mean over masked pixels: on 16 tokens, the MST
    # maskers' defaults (p 0.15; 2 candidates at p 0.1) may mask none
    masker = dict(type=name, **SURE_TO_MASK.get(name, {}))
    model = _build(_vit_cfg(masker=masker))
    seen = _spy(model)
    loss = model.loss(torch.randn(2, 3, 32, 32), None)['loss']
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.equal(seen['token_mask'], seen['mask'])
    counts = seen['mask'].sum(1)
    assert bool(((counts > 0) & (counts < VIT_GRID**2)).all())
    if getattr(maskers, name).fixed_count:
        assert counts[0] == counts[1]


def test_vit_extract_feat_and_weights_stay_mmpretrains():
    model = _build(_vit_cfg())
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    target = VisionTransformer(arch=VIT_ARCH, img_size=32, patch_size=8,
                               out_type='featmap')
    state = {k: v for k, v in model.backbone.state_dict().items()
             if k != 'mask_token'}
    assert not target.load_state_dict(state, strict=True).missing_keys
    target.eval()
    assert torch.equal(model.extract_feat(x)[0], target(x)[0])
    # no mask: the masked forward is the plain forward
    tokens, _ = model.backbone.embed(x)
    unmasked = model.backbone.forward_masked(
        tokens, torch.zeros(2, 16, dtype=torch.bool))
    assert torch.allclose(unmasked[0], target(x)[0], atol=1e-6)


# Swin


def test_swin_loss_uses_the_maskers_mask_on_the_mask_patch_grid():
    model = _build(_swin_cfg())
    bb = model.backbone
    assert bb.mask_grid == (4, 4) and bb.mask_scale == 4
    assert len(bb.layers) == 8
    seen = _spy(model)
    x = torch.randn(2, 3, 64, 64)
    loss = model.loss(x, None)['loss']
    assert torch.isfinite(loss)
    loss.backward()
    assert bb.mask_token.grad is not None and bb.mask_token.grad.abs().sum()
    assert seen['grid'] == (4, 4)
    mask = seen['mask']
    assert mask.sum(1).tolist() == [10, 10]  # round(16 * 0.6)
    token_mask = seen['token_mask']
    assert token_mask.shape == (2, SWIN_GRID**2)
    assert torch.equal(token_mask, _hand_upsample(mask, (4, 4), 4))
    assert token_mask.sum(1).tolist() == [160, 160]
    # the guidance by hand: blocks 1-2 (16 x 16), patch merging, block 3
    # (8 x 8), each 2 x 2 cell averaged onto the 4 x 4 mask patches, cosine
    bb.eval()
    with torch.no_grad():
        t, hw = bb.patch_embed(x)
        for block in bb.stages[0].blocks:
            t = block(t, hw)
        t, hw = bb.stages[0].downsample(t, hw)
        t = bb.stages[1].blocks[0](t, hw)
        assert hw == (8, 8)
        f = t.reshape(2, 8, 8, -1)
        cells = torch.stack([
            torch.stack([f[:, 2 * r:2 * r + 2, 2 * c:2 * c + 2].mean((1, 2))
                         for c in range(4)], 1) for r in range(4)
        ], 1).reshape(2, 16, -1)
        expected = F.cosine_similarity(cells[:, :, None], cells[:, None],
                                       dim=-1)
    assert torch.allclose(seen['guidance'], expected, atol=1e-5)
    # the masked forward is mmpretrain's SimMIMSwinTransformer's, and the
    # loss SimMIM's by hand
    bb.train()
    with torch.no_grad():
        feats = SimMIMSwinTransformer.forward(bb, x, token_mask)[0]
        tokens, _ = bb.embed(x)
        assert torch.allclose(bb.forward_masked(tokens, token_mask)[0],
                              feats, atol=1e-6)
        rec = model.neck(feats)
        expected = _hand_l1(rec, x, token_mask, (SWIN_GRID, SWIN_GRID), 4)
    assert torch.allclose(loss.detach(), expected, atol=1e-5)


def test_swin_guidance_pools_a_coarser_stage_by_repeating():
    """After 7 blocks the features are the 2 x 2 last stage: each feature
    serves the 2 x 2 mask patches it covers."""
    model = _build(_swin_cfg())
    bb = model.backbone
    tokens, _ = bb.embed(torch.randn(1, 3, 64, 64))
    # blocks counted across stages; a stage's last block comes before its
    # patch merging
    shapes = {n: tuple(bb.block_features(tokens, n).shape)
              for n in (1, 2, 3, 6, 7, 8)}
    assert shapes == {1: (1, 16, 16, 16), 2: (1, 16, 16, 16),
                      3: (1, 32, 8, 8), 6: (1, 64, 4, 4),
                      7: (1, 128, 2, 2), 8: (1, 128, 2, 2)}
    for bad in (0, 9):
        with pytest.raises(ValueError, match=f'attention_layers={bad}; '
                           "expected 1 to the backbone's 8 blocks"):
            bb.block_features(tokens, bad)
    sim = bb.mask_guidance(tokens, 7, 'similarity')
    same = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    for group in same:
        for i in group:
            for j in group:
                assert torch.isclose(sim[0, i, j], torch.tensor(1.),
                                     atol=1e-5)


def test_swin_guidance_pass_has_no_gradient_no_draws_and_keeps_the_model():
    model = _build(_swin_cfg(backbone=dict(drop_path_rate=0.5)))
    model.train()
    state = copy.deepcopy(model.state_dict())
    tokens, _ = model.backbone.embed(torch.randn(2, 3, 64, 64))
    rng = torch.get_rng_state()
    guidance = model.backbone.mask_guidance(tokens, 8, 'similarity')
    assert torch.equal(torch.get_rng_state(), rng)
    assert guidance.shape == (2, 16, 16) and not guidance.requires_grad
    assert all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_swin_refuses_importance_guidance():
    model = _build(_swin_cfg(masker=dict(type='AttentionGuidedMasker')))
    with pytest.raises(ValueError, match="guided by 'importance' cannot run "
                       'on Swin.*no class token'):
        model.loss(torch.randn(1, 3, 64, 64), None)


def test_swin_ema_source_and_plain_forward():
    model = _build(_swin_cfg(attention_source='ema'))
    loss = model.loss(torch.randn(2, 3, 64, 64), None)['loss']
    assert torch.isfinite(loss)
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    target = SwinTransformer(arch=SWIN_ARCH, img_size=64,
                             stage_cfgs=dict(block_cfgs=dict(window_size=2)))
    state = {k: v for k, v in model.backbone.state_dict().items()
             if k != 'mask_token'}
    assert not target.load_state_dict(state, strict=True).missing_keys
    target.eval()
    assert torch.equal(model.extract_feat(x)[0], target(x)[0])


# errors


def test_bad_arguments_name_the_key():
    with pytest.raises(ValueError, match='attention_layers=5 .* 4 blocks'):
        _build(_vit_cfg(attention_layers=5))
    with pytest.raises(ValueError, match='attention_layers=9 .* 8 blocks'):
        _build(_swin_cfg(attention_layers=9))
    with pytest.raises(ValueError, match='TokenMaskSimMIMSwin: '
                       'mask_patch_size=20'):
        _build(_swin_cfg(backbone=dict(mask_patch_size=20)))
    with pytest.raises(ValueError, match='TokenMaskSimMIMViT: '
                       'mask_patch_size=12'):
        _build(_vit_cfg(backbone=dict(mask_patch_size=12)))
    plain = _swin_cfg(backbone=dict(type='SimMIMSwinTransformer'))
    del plain['backbone']['mask_patch_size']
    with pytest.raises(TypeError, match='has no embed; use '
                       'TokenMaskSimMIMViT or TokenMaskSimMIMSwin'):
        _build(plain)
    model = _build(_vit_cfg())
    with pytest.raises(ValueError, match='a .*48, 48.* patch grid'):
        model.loss(torch.randn(1, 3, 48, 48), None)
    with pytest.raises(ValueError, match='guided by a similarity.*got None'):
        model.masker(2, (VIT_GRID, VIT_GRID), None)  # similarity missing
    with pytest.raises(ValueError, match=r'mask is torch.int64 \(2, 16\)'):
        tokens, _ = model.backbone.embed(torch.randn(2, 3, 32, 32))
        model.backbone.forward_masked(tokens, torch.zeros(2, 16,
                                                          dtype=torch.long))


# the ImageNet configs, with tiny widths: their geometry (patch, mask-patch
# and decoder strides, head patch size) holds at their image sizes


@pytest.mark.parametrize('name, arch', [
    ('ehm-simmim_vit-base-p16_8xb256-amp-coslr-200e_in1k.py',
     dict(embed_dims=16, num_layers=6, num_heads=1,
          feedforward_channels=16)),
    ('ehm-simmim_swin-base-w6_8xb256-amp-coslr-200e_in1k-192px.py',
     dict(embed_dims=8, depths=[2, 2, 2, 2], num_heads=[1, 1, 1, 1])),
])
def test_imagenet_configs_train_at_their_sizes(name, arch):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ehm', name))
    assert cfg.train_cfg.max_epochs == 200  # EHM Table VIII
    assert 'SimMIMMaskGenerator' not in [t.type for t in cfg.train_pipeline]
    assert cfg.model.masker == dict(type='EvolvedHierarchicalMasker',
                                    mask_ratio=0.6)
    size = cfg.train_pipeline[1].scale
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone']['arch'] = arch
    model_cfg['neck']['in_channels'] = arch['embed_dims'] * (
        8 if 'depths' in arch else 1)
    model = _build(model_cfg)
    seen = _spy(model)
    loss = model.loss(torch.randn(1, 3, size, size), None)['loss']
    assert torch.isfinite(loss)
    expected_grid = (14, 14) if 'vit' in name else (6, 6)
    assert seen['grid'] == expected_grid
    assert seen['token_mask'].float().mean().item() == pytest.approx(
        seen['mask'].float().mean().item())
