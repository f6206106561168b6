"""EHM's BEiT v1 host: the BEiT layer with its attention weights does the
layer's maths, the masker's mask drives BEiT's masked forward, and the
attention pass that guides it (EHM Sec. V-E) shares the patch embedding,
gets no gradient and leaves the model as it was. A tiny ViT (32 px, 8-px
patches, 4 x 4 grid) and mmpretrain's real DALL-E tokenizer at its smallest
(``n_hid=4``, 16 visual tokens, randomly initialised) on 32-px target
images (DALL-E downsamples by 8: a 4 x 4 token grid)."""
import copy
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmpretrain.models import BEiTPretrainViT
from mmpretrain.models.backbones.beit import BEiTTransformerEncoderLayer
from mmpretrain.registry import MODELS

from conftest import REPO, spy_masker
from maskssl.analysis.benchmark import synthetic_batch
from maskssl.models import maskers
from maskssl.models.backbones.token_mask_beit_vit import (
    beit_layer_with_attention)
from maskssl.models.maskers import BaseTokenMasker
from maskssl.models.utils.attention import patch_attention
from maskssl.utils.init_weights import init_weights_quietly

ARCH = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
GRID = 4  # img_size 32 / patch_size 8
N = GRID * GRID
VOCAB = 16
CONFIG = osp.join(
    REPO, 'configs/ehm/ehm-beit_vit-base-p16_8xb256-amp-coslr-200e_in1k.py')


def _backbone_cfg(**kwargs) -> dict:
    cfg = dict(type='TokenMaskBEiTViT', arch=ARCH, img_size=32, patch_size=8,
               final_norm=True, out_type='raw', layer_scale_init_value=0.1)
    cfg.update(kwargs)
    return cfg


def _cfg(backbone=None, **kwargs) -> dict:
    cfg = dict(
        type='EHMBEiT',
        backbone=backbone or _backbone_cfg(),
        head=dict(type='BEiTV1Head', embed_dims=32, num_embed=VOCAB,
                  loss=dict(type='CrossEntropyLoss')),
        target_generator=dict(type='DALL-E', n_hid=4, vocab_size=VOCAB,
                              init_cfg=None),
        attention_layers=2)
    cfg.update(kwargs)
    return cfg


def _randomise(module: torch.nn.Module, std: float = 0.5) -> None:
    """Every parameter drawn at random, so that layer scales, q/v biases
    and relative position tables all matter."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0., std)


def _model(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(_cfg(**kwargs))
    init_weights_quietly(model)
    _randomise(model.backbone, 0.2)
    return model


def _inputs(batch: int = 2):
    torch.manual_seed(1)
    return [torch.randn(batch, 3, 32, 32), torch.randn(batch, 3, 32, 32)]


def _hand_relative_bias(table, window, i, j):
    """BEiT's relative position bias of query ``i`` and key ``j`` (class
    token 0, then the patches in raster order) from its table (BEiT Sec.
    2.6): one entry per 2-D offset, three more for class-to-patch,
    patch-to-class and class-to-class."""
    wh, ww = window
    num_offsets = (2 * wh - 1) * (2 * ww - 1)
    if i == 0 and j == 0:
        return table[num_offsets + 2]
    if i == 0:
        return table[num_offsets]
    if j == 0:
        return table[num_offsets + 1]
    (yi, xi), (yj, xj) = divmod(i - 1, ww), divmod(j - 1, ww)
    return table[(yi - yj + wh - 1) * (2 * ww - 1) + (xi - xj + ww - 1)]


def _hand_beit_layer(layer, x, shared_bias):
    """A BEiT layer written out, head by head and entry by entry."""
    attn = layer.attn
    batch, length, channels = x.shape
    heads = attn.num_heads
    d = channels // heads
    y = F.layer_norm(x, (channels, ), layer.ln1.weight, layer.ln1.bias,
                     layer.ln1.eps)
    w = attn.qkv.weight
    if attn.bias == 'qv_bias':
        biases = (attn.q_bias, torch.zeros(channels), attn.v_bias)
    elif attn.qkv.bias is not None:
        biases = attn.qkv.bias.split(channels)
    else:
        biases = (torch.zeros(channels), ) * 3
    q, k, v = (y @ w[n * channels:(n + 1) * channels].T + biases[n]
               for n in range(3))
    weights = torch.zeros(batch, heads, length, length)
    out = torch.zeros(batch, length, channels)
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        logits = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(d)
        for i in range(length):
            for j in range(length):
                if shared_bias is not None:
                    logits[:, i, j] += shared_bias[h, i, j]
                if attn.use_rel_pos_bias:
                    logits[:, i, j] += _hand_relative_bias(
                        attn.relative_position_bias_table, attn.window_size,
                        i, j)[h]
        weights[:, h] = torch.exp(logits) / torch.exp(logits).sum(
            -1, keepdim=True)
        out[..., cols] = weights[:, h] @ v[..., cols]
    out = out @ attn.proj.weight.T + attn.proj.bias
    x = x + (out if layer.gamma_1 is None else layer.gamma_1 * out)
    y = F.layer_norm(x, (channels, ), layer.ln2.weight, layer.ln2.bias,
                     layer.ln2.eps)
    fc1, fc2 = layer.ffn.layers[0][0], layer.ffn.layers[1]
    fed = F.gelu(y @ fc1.weight.T + fc1.bias) @ fc2.weight.T + fc2.bias
    return x + (fed if layer.gamma_2 is None else layer.gamma_2 * fed), \
        weights


@pytest.mark.parametrize('bias,scale,own_bias,shared', [
    ('qv_bias', 0.1, False, True),  # BEiT v1 pre-training
    ('qv_bias', 0.1, True, True),
    (True, 0., True, False),
    (False, 0.1, False, False),
])
def test_beit_layer_with_attention_is_the_layers_maths(bias, scale, own_bias,
                                                       shared):
    torch.manual_seed(0)
    window = (2, 3)
    length = 1 + 6
    layer = BEiTTransformerEncoderLayer(
        embed_dims=8, num_heads=2, feedforward_channels=16,
        layer_scale_init_value=scale, window_size=window,
        use_rel_pos_bias=own_bias, bias=bias)
    _randomise(layer)
    layer.eval()
    x = torch.randn(3, length, 8)
    shared_bias = torch.randn(2, length, length) if shared else None
    out, weights = beit_layer_with_attention(layer, x, shared_bias)
    assert weights.shape == (3, 2, length, length)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 2, length),
                          atol=1e-6)
    assert torch.allclose(out, layer(x, rel_pos_bias=shared_bias),
                          atol=1e-5)
    with torch.no_grad():
        hand_out, hand_weights = _hand_beit_layer(layer, x, shared_bias)
    assert torch.allclose(weights, hand_weights, atol=1e-5)
    assert torch.allclose(out, hand_out, atol=1e-4)


def test_beit_layer_with_attention_draws_the_layers_drop_paths():
    """In train mode the drop paths (the FFN's and the layer's) draw in the
    layer's order: the same seed gives the layer's output."""
    torch.manual_seed(0)
    layer = BEiTTransformerEncoderLayer(
        embed_dims=8, num_heads=2, feedforward_channels=16,
        layer_scale_init_value=0.1, window_size=(2, 2),
        use_rel_pos_bias=False, drop_path_rate=0.5)
    _randomise(layer)
    x, bias = torch.randn(6, 5, 8), torch.randn(2, 5, 5)
    torch.manual_seed(3)
    out, _ = beit_layer_with_attention(layer, x, bias)
    torch.manual_seed(3)
    expected = layer(x, rel_pos_bias=bias)
    torch.manual_seed(4)
    assert torch.allclose(out, expected, atol=1e-5)
    assert not torch.allclose(out, layer(x, rel_pos_bias=bias), atol=1e-3)


@pytest.mark.parametrize('position', ['shared_rel', 'abs_and_layer_rel'])
def test_attention_pass_is_the_first_layers_without_side_effects(position):
    kwargs = dict(drop_rate=0.1, drop_path_rate=0.2)
    if position == 'abs_and_layer_rel':
        kwargs.update(use_abs_pos_emb=True, use_rel_pos_bias=True,
                      use_shared_rel_pos_bias=False)
    model = _model(backbone=_backbone_cfg(**kwargs))
    bb = model.backbone
    model.train()
    state = copy.deepcopy(model.state_dict())
    x = _inputs()[0]
    tokens, grid = bb.embed(x)
    assert grid == (GRID, GRID) and tokens.shape == (2, N, 32)
    rng = torch.get_rng_state()
    weights = bb.attention(tokens, 3)
    assert torch.equal(torch.get_rng_state(), rng)  # no dropout draws
    assert all(m.training for m in bb.modules())
    assert all(not w.requires_grad for w in weights)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    # the reference: class token, position embedding, mmpretrain's layers
    bb.eval()
    with torch.no_grad():
        h = torch.cat([bb.cls_token.expand(2, -1, -1),
                       bb.patch_embed(x)[0]], 1)
        if bb.pos_embed is not None:
            h = h + bb.pos_embed
        shared = bb.rel_pos_bias() if bb.rel_pos_bias is not None else None
        assert (shared is None) == (position != 'shared_rel')
        assert len(weights) == 3
        for layer, w in zip(bb.layers, weights):
            assert w.shape == (2, 2, N + 1, N + 1)
            assert torch.allclose(
                w, beit_layer_with_attention(layer, h, shared)[1], atol=1e-5)
            h = layer(h, rel_pos_bias=shared)


@pytest.mark.parametrize('mask_form', ['bool_tokens', 'int_grid'])
def test_forward_masked_is_beits_masked_forward(mask_form):
    model = _model(backbone=_backbone_cfg(drop_rate=0.1, drop_path_rate=0.2,
                                          out_indices=[0, 2]))
    bb = model.backbone
    bb.train()
    x = _inputs()[0]
    mask = torch.rand(2, N) < 0.4
    given = mask if mask_form == 'bool_tokens' else \
        mask.reshape(2, GRID, GRID).long()
    torch.manual_seed(5)
    outs = bb.forward_masked(bb.embed(x)[0], mask)
    ours_bias = bb.shared_rel_pos_bias
    torch.manual_seed(5)
    expected = BEiTPretrainViT.forward(bb, x, given)
    assert len(outs) == 2 and outs[1].shape == (2, 1 + N, 32)
    for a, b in zip(outs, expected):
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.equal(ours_bias, bb.shared_rel_pos_bias)
    torch.manual_seed(5)  # the inherited forward is BEiTPretrainViT's
    for a, b in zip(bb(x, given), expected):
        assert torch.allclose(a, b, atol=1e-5)
    # the masked tokens enter as [MASK]: their embeddings do not matter
    bb.eval()
    x2 = x.clone()
    with torch.no_grad():
        a = bb.forward_masked(bb.embed(x)[0], mask)[1]
        t = bb.embed(x2)[0]
        t[mask] = 100.
        assert torch.allclose(a, bb.forward_masked(t, mask)[1], atol=1e-6)


def test_loss_uses_the_maskers_mask_guidance_and_the_tokenizers_targets():
    model = _model()
    seen = spy_masker(model)
    inputs = _inputs()
    model.eval()  # deterministic, to recompute the loss by hand
    loss = model.loss(inputs, None)['loss']
    mask = seen['mask']
    assert mask.shape == (2, N) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [6, 6]  # round(16 * 0.4)
    bb = model.backbone
    with torch.no_grad():
        h = torch.cat([bb.cls_token.expand(2, -1, -1),
                       bb.patch_embed(inputs[0])[0]], 1)
        shared = bb.rel_pos_bias()
        maps = []
        for layer in bb.layers[:2]:
            maps.append(patch_attention(
                beit_layer_with_attention(layer, h, shared)[1]))
            h = layer(h, rel_pos_bias=shared)
        # BEiT's loss on that mask: masked positions' logits against the
        # tokenizer's most likely visual token
        feats = BEiTPretrainViT.forward(bb, inputs[0], mask)[0]
        ids = model.target_generator(inputs[1]).argmax(1).flatten(1)
        logits = model.head.cls_head(feats[:, 1:])
        terms = [-torch.log_softmax(logits[b, i], -1)[ids[b, i]]
                 for b in range(2) for i in range(N) if mask[b, i]]
    assert torch.allclose(seen['guidance'], (maps[0] + maps[1]) / 2,
                          atol=1e-6)
    assert len(terms) == 12
    assert torch.allclose(loss, torch.stack(terms).mean(), atol=1e-5)


def test_loss_backprops_through_the_masked_forward_only():
    """The loss trains the encoder (mask token, relative position table,
    layers) and the head, not the tokenizer; the gradients are those of a
    run with the mask given (the attention pass adds none)."""
    model = _model(backbone=_backbone_cfg(drop_path_rate=0.))
    seen = spy_masker(model)
    inputs = _inputs()
    loss = model.loss(inputs, None)['loss']
    assert torch.isfinite(loss)
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()
             if p.grad is not None}
    for key in ('backbone.mask_token',
                'backbone.patch_embed.projection.weight',
                'backbone.rel_pos_bias.relative_position_bias_table',
                'backbone.layers.0.attn.q_bias', 'backbone.layers.2.gamma_2',
                'head.cls_head.weight'):
        assert key in grads and grads[key].abs().sum() > 0, key
    assert not any(k.startswith('target_generator') for k in grads)
    model.zero_grad()
    bb = model.backbone
    latent = bb.forward_masked(bb.embed(inputs[0])[0], seen['mask'])
    target = model.target_generator(inputs[1])
    model.head.loss(latent[0], target, seen['mask']).backward()
    for k, p in model.named_parameters():
        if k in grads:
            assert torch.allclose(grads[k], p.grad, atol=1e-6), k


def test_ema_source_guides_from_the_moving_average():
    model = _model(attention_source='ema', ema_momentum=0.5)
    MessageHub.get_instance('test_ehm_beit_ema').update_info(
        'max_iters', 10**9)
    inputs = _inputs()
    model.loss(inputs, None)  # the first update copies the online encoder
    with torch.no_grad():  # the online encoder moves away from its copy
        for p in model.backbone.parameters():
            p.add_(0.1)
    seen = spy_masker(model)
    model.loss(inputs, None)
    ema = model.attention_ema.module
    expected = torch.stack([patch_attention(w) for w in ema.attention(
        ema.embed(inputs[0])[0], 2)]).mean(0)
    assert torch.allclose(seen['guidance'], expected, atol=1e-6)
    online = torch.stack([patch_attention(w) for w in model.backbone.attention(
        model.backbone.embed(inputs[0])[0], 2)]).mean(0)
    assert not torch.allclose(seen['guidance'], online, atol=1e-4)


@pytest.mark.parametrize('name', [
    n for n in maskers.__all__
    if isinstance(getattr(maskers, n), type)
    and issubclass(getattr(maskers, n), BaseTokenMasker)
    and getattr(maskers, n) is not BaseTokenMasker
])
def test_every_masker_drives_ehm_beit(name):
    """BEiT keeps every token, so maskers with a varying count drive it
    too."""
    model = _model(masker=dict(type=name))
    seen = spy_masker(model)
    loss = model.loss(_inputs(4), None)['loss']
    assert torch.isfinite(loss)
    mask = seen['mask']
    assert mask.shape == (4, N) and 0 < mask.sum() < 4 * N


def test_weights_load_into_beit_pretrain_vit_and_features_stay_beits():
    model = _model()
    target = BEiTPretrainViT(arch=ARCH, img_size=32, patch_size=8,
                             final_norm=True, out_type='raw')
    result = target.load_state_dict(model.backbone.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = _inputs()[0]
    model.eval()
    target.eval()
    assert torch.allclose(model.extract_feat(x)[0], target(x, None)[0],
                          atol=1e-6)


def test_bad_arguments_name_the_key():
    with pytest.raises(ValueError, match='attention_layers=4 .* 3 blocks'):
        _model(attention_layers=4)
    with pytest.raises(ValueError, match="attention_source='teacher'"):
        _model(attention_source='teacher')
    with pytest.raises(ValueError, match='mask_ratio'):
        _model(masker=dict(type='EvolvedHierarchicalMasker', mask_ratio=1.0))
    with pytest.raises(TypeError, match='use TokenMaskBEiTViT'):
        _model(backbone=dict(_backbone_cfg(), type='BEiTPretrainViT'))
    with pytest.raises(ValueError, match='neck=.*BEiT v1'):
        _model(neck=dict(type='BEiTV2Neck', num_layers=1, early_layers=1,
                         backbone_arch=dict(ARCH, depth=3)))
    with pytest.raises(ValueError, match='target_generator=None'):
        _model(target_generator=None)
    model = _model()
    x, target_images = _inputs()
    with pytest.raises(ValueError, match=r'expected \[images, target_images'):
        model.loss(x, None)
    with pytest.raises(ValueError, match=r'a .*48, 48.* patch grid'):
        model.loss([torch.randn(2, 3, 48, 48), target_images], None)
    with pytest.raises(ValueError, match=r'\(2, 16, 8, 8\).*\(B, vocab, 4'):
        model.loss([x, torch.randn(2, 3, 64, 64)], None)
    with pytest.raises(ValueError, match=r'mask is torch.int64 \(2, 16\)'):
        model.backbone.forward_masked(model.backbone.embed(x)[0],
                                      torch.zeros(2, N, dtype=torch.long))


def test_config_is_beits_recipe_with_the_ehm_masker():
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.type == 'EHMBEiT'
    assert cfg.model.backbone.type == 'TokenMaskBEiTViT'
    assert cfg.model.masker == dict(type='EvolvedHierarchicalMasker',
                                    mask_ratio=0.4)
    assert cfg.model.attention_layers == 6
    assert cfg.model.target_generator.type == 'DALL-E'
    assert cfg.model.target_generator.init_cfg.checkpoint.endswith(
        'dalle_encoder.pth')
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert not [t for t in pipeline if t['type'] == 'BEiTMaskGenerator']
    assert cfg.train_cfg.max_epochs == 200
    assert cfg.param_scheduler[-1].end == 200
    assert 'maskssl' in cfg.custom_imports.imports
    # one training step of the config scaled down: 32-px crops for the ViT
    # (8-px patches) and for the tokenizer (8x downsampling), 4 x 4 grids
    crop, = [t for t in pipeline
             if t['type'] == 'RandomResizedCropAndInterpolationWithTwoPic']
    crop.update(size=32, second_size=32)
    cfg.model.backbone.update(arch=ARCH, img_size=32, patch_size=8)
    cfg.model.head.update(embed_dims=32, num_embed=VOCAB)
    cfg.model.target_generator = dict(type='DALL-E', n_hid=4,
                                      vocab_size=VOCAB, init_cfg=None)
    cfg.model.attention_layers = 2
    cfg.model.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    init_weights_quietly(model)
    optim = dict(cfg.optim_wrapper, type='OptimWrapper')  # AMP: no GPU
    optim.pop('loss_scale', None)
    optim_wrapper = build_optim_wrapper(model, optim)
    data = synthetic_batch(cfg, 2)
    assert 'mask' not in data['data_samples'][0]
    before = [p.detach().clone() for p in model.backbone.parameters()]
    log_vars = model.train_step(data, optim_wrapper)
    assert math.isfinite(log_vars['loss'].item())
    assert any(not torch.equal(a, b)
               for a, b in zip(before, model.backbone.parameters()))
