"""MST's ViT backbone: token mask (Eq. 6) and last-block attention (Eq. 4)."""
import math

import pytest
import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from maskssl.models.backbones import MSTVisionTransformer
from maskssl.models.utils.attention import class_attention, patch_attention
from maskssl.models.utils.token_masking import replace_masked_tokens

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
GRID = 4  # img_size 32 / patch_size 8
N = GRID * GRID


def _vit(**kwargs) -> MSTVisionTransformer:
    torch.manual_seed(0)
    cfg = dict(arch=ARCH, img_size=32, patch_size=8)
    cfg.update(kwargs)
    model = MSTVisionTransformer(**cfg)
    model.init_weights()
    model.eval()  # mmpretrain's BaseBackbone.train returns None
    return model


def _images(batch=2, size=32):
    return torch.randn(batch, 3, size, size,
                       generator=torch.Generator().manual_seed(1))


def _mask(batch=2, n=N):
    return torch.rand(batch, n,
                      generator=torch.Generator().manual_seed(2)) < 0.4


def _capture_input(module):
    """Record the positional input of every call of ``module``."""
    seen = []
    module.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    return seen


def test_builds_from_registry_with_one_extra_parameter():
    model = MODELS.build(
        dict(type='MSTVisionTransformer', arch=ARCH, img_size=32,
             patch_size=8))
    assert isinstance(model, MSTVisionTransformer)
    plain = VisionTransformer(arch=ARCH, img_size=32, patch_size=8)
    assert set(model.state_dict()) - set(plain.state_dict()) == {'mask_token'}
    assert set(plain.state_dict()) <= set(model.state_dict())
    assert model.mask_token.shape == (1, 1, 32)


def test_mask_token_initialised_truncated_normal():
    model = MSTVisionTransformer(arch=dict(ARCH, embed_dims=512),
                                 img_size=32, patch_size=8)
    assert torch.count_nonzero(model.mask_token) == 0
    torch.manual_seed(0)
    model.init_weights()
    token = model.mask_token.detach()
    assert 0.015 < token.std().item() < 0.025


def test_replace_masked_tokens_by_hand():
    tokens = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)
    mask = torch.tensor([[True, False, False], [False, True, True]])
    token = torch.tensor([[[-1., -2.]]])
    out = replace_masked_tokens(tokens, mask, token)
    for b in range(2):
        for i in range(3):
            want = token[0, 0] if mask[b, i] else tokens[b, i]
            assert torch.equal(out[b, i], want)


def test_mask_replaces_only_masked_patch_embeddings():
    model = _vit()
    seen = _capture_input(model.layers[0])
    images, mask = _images(), _mask()
    with torch.no_grad():
        model(images)
        model(images, mask=mask)
    plain, masked = seen
    pos = model.pos_embed[0]
    # class token never masked
    assert torch.equal(plain[:, 0], masked[:, 0])
    for b in range(2):
        for i in range(N):
            if mask[b, i]:
                torch.testing.assert_close(
                    masked[b, 1 + i], model.mask_token[0, 0] + pos[1 + i])
                assert not torch.allclose(masked[b, 1 + i], plain[b, 1 + i])
            else:
                assert torch.equal(masked[b, 1 + i], plain[b, 1 + i])


def test_all_false_mask_is_the_plain_forward():
    model = _vit()
    images = _images()
    with torch.no_grad():
        plain = model(images)[0]
        none_masked = model(images, torch.zeros(2, N, dtype=torch.bool))[0]
    assert torch.equal(plain, none_masked)


@pytest.mark.parametrize('bad', [
    torch.zeros(2, GRID, GRID, dtype=torch.bool),
    torch.zeros(2, N + 1, dtype=torch.bool),
    torch.zeros(3, N, dtype=torch.bool),
    torch.zeros(2, N, dtype=torch.float32),
    torch.zeros(2, N, dtype=torch.long),
])
def test_wrong_mask_raises_naming_the_expected_shape(bad):
    with pytest.raises(ValueError, match=r'\(B, h\*w\) = \(2, 16\)'):
        _vit()(_images(), mask=bad)


@pytest.mark.parametrize('bad', ['CLS', 'both', 1, None])
def test_unknown_return_attention_raises(bad):
    with pytest.raises(ValueError, match='return_attention'):
        _vit()(_images(), return_attention=bad)


def test_class_attention_needs_the_class_token():
    model = _vit(with_cls_token=False, out_type='featmap')
    with pytest.raises(ValueError, match='with_cls_token'):
        model(_images(), return_attention=True)
    # the patch attention has no class token to need
    _, attn = model(_images(), return_attention='patch')
    assert attn.shape == (2, N, N)


def _hand_attention(model, normed):
    """Eq. 4 with loops: softmax over keys of q_h . k_h / sqrt(d) for each
    head from the last block's qkv weights, averaged over the heads.
    Returns the (B, L, L) head-averaged map, float64."""
    qkv = model.layers[-1].attn.qkv
    weight, bias = qkv.weight.detach().double(), qkv.bias.detach().double()
    x = normed.double()
    C, H = ARCH['embed_dims'], ARCH['num_heads']
    d = C // H
    B, L, _ = x.shape
    q = x @ weight[:C].T + bias[:C]
    k = x @ weight[C:2 * C].T + bias[C:2 * C]
    out = torch.zeros(B, L, L, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            for i in range(L):
                scores = [
                    float(q[b, i, h * d:(h + 1) * d]
                          @ k[b, j, h * d:(h + 1) * d]) / math.sqrt(d)
                    for j in range(L)
                ]
                top = max(scores)
                exps = [math.exp(s - top) for s in scores]
                for j in range(L):
                    out[b, i, j] += exps[j] / sum(exps) / H
    return out


@pytest.mark.parametrize('masked', [False, True])
def test_class_and_patch_attention_equal_hand_computation(masked):
    model = _vit()
    normed = _capture_input(model.layers[-1].attn.qkv)
    mask = _mask() if masked else None
    with torch.no_grad():
        _, cls_attn = model(_images(), mask=mask, return_attention=True)
        _, cls_attn2 = model(_images(), mask=mask, return_attention='cls')
        _, patch_attn = model(_images(), mask=mask, return_attention='patch')
    hand = _hand_attention(model, normed[0])
    assert cls_attn.shape == (2, N)
    assert patch_attn.shape == (2, N, N)
    torch.testing.assert_close(cls_attn.double(), hand[:, 0, 1:],
                               rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(patch_attn.double(), hand[:, 1:, 1:],
                               rtol=1e-5, atol=1e-7)
    assert torch.equal(cls_attn, cls_attn2)
    # the class token's own column is dropped, not renormalised
    assert (cls_attn.sum(-1) < 1).all()
    torch.testing.assert_close(cls_attn.sum(-1).double(), 1 - hand[:, 0, 0])


def test_class_and_patch_attention_select_by_hand():
    weights = torch.rand(2, 3, 5, 5)
    cls_attn, patch_attn = class_attention(weights), patch_attention(weights)
    for b in range(2):
        for i in range(4):
            want = sum(weights[b, h, 0, 1 + i] for h in range(3)) / 3
            torch.testing.assert_close(cls_attn[b, i], want)
            for j in range(4):
                want = sum(weights[b, h, 1 + i, 1 + j] for h in range(3)) / 3
                torch.testing.assert_close(patch_attn[b, i, j], want)


@pytest.mark.parametrize('out_type', ['raw', 'cls_token', 'featmap'])
@pytest.mark.parametrize('kind', [True, 'patch'])
def test_outputs_with_attention_equal_outputs_without(out_type, kind):
    model = _vit(out_type=out_type, out_indices=(0, 1))
    images, mask = _images(), _mask()
    with torch.no_grad():
        plain = model(images, mask=mask)
        outs, _ = model(images, mask=mask, return_attention=kind)
    assert len(outs) == len(plain) == 2
    for a, b in zip(outs, plain):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_training_with_drop_path_draws_the_same_randomness():
    model = _vit(drop_path_rate=0.5, out_type='raw')
    model.train()
    images = _images()
    torch.manual_seed(3)
    plain = model(images)[0]
    torch.manual_seed(3)
    outs, _ = model(images, return_attention=True)
    torch.testing.assert_close(outs[0], plain, rtol=1e-6, atol=1e-6)


def test_state_dict_loads_strictly_into_plain_vision_transformer():
    model = _vit(out_type='raw')
    state = model.state_dict()
    del state['mask_token']
    plain = VisionTransformer(arch=ARCH, img_size=32, patch_size=8,
                              out_type='raw')
    plain.eval()
    plain.load_state_dict(state, strict=True)
    images = _images()
    with torch.no_grad():
        torch.testing.assert_close(model(images)[0], plain(images)[0],
                                   rtol=0, atol=0)
        # and so does the attention path, up to float rounding
        outs, _ = model(images, return_attention=True)
        torch.testing.assert_close(outs[0], plain(images)[0], rtol=1e-6,
                                   atol=1e-6)


@pytest.mark.parametrize('size', [16, 64])
def test_other_input_sizes_run_with_mask_and_attention(size):
    """Local crops: a grid other than the position embedding's."""
    model = _vit(out_type='featmap')
    grid = size // 8
    images = _images(size=size)
    mask = _mask(n=grid * grid)
    seen = _capture_input(model.layers[0])
    with torch.no_grad():
        (feat, ), cls_attn = model(images, mask=mask, return_attention=True)
        _, patch_attn = model(images, mask=mask, return_attention='patch')
    assert feat.shape == (2, 32, grid, grid)
    assert cls_attn.shape == (2, grid * grid)
    assert patch_attn.shape == (2, grid * grid, grid * grid)
    # every token carries the interpolated position embedding, the masked
    # ones on top of the mask embedding
    with torch.no_grad():
        patches = model.patch_embed(images)[0]
        resized = model.resize_pos_embed(model.pos_embed, (GRID, GRID),
                                         (grid, grid))[0]
    for b in range(2):
        for i in range(grid * grid):
            token = model.mask_token[0, 0] if mask[b, i] else patches[b, i]
            torch.testing.assert_close(seen[0][b, 1 + i],
                                       token + resized[1 + i])
    with pytest.raises(ValueError, match=rf'\(2, {grid * grid}\)'):
        model(images, mask=_mask())


def test_mask_token_receives_gradient_only_when_used():
    model = _vit(out_type='raw')
    model.train()
    images = _images()
    model(images)[0].sum().backward()
    assert model.mask_token.grad is None
    model(images, mask=_mask())[0].sum().backward()
    assert model.mask_token.grad.abs().sum() > 0


def test_mask_token_is_a_stem_parameter_for_layer_decay():
    model = _vit()
    assert model.get_layer_depth('backbone.mask_token', 'backbone.') == \
        model.get_layer_depth('backbone.cls_token', 'backbone.') == (0, 4)
