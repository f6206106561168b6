"""MST's Swin backbone: the last-stage token mask brought to the patch
embedding (Eq. 6), the last block's window attention (importance and
token-to-token), small maps, weights a plain Swin takes, and MST training on
it."""
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.models import SwinTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from maskssl.models.backbones import MSTSwinTransformer
from maskssl.models.backbones.mst_swin_transformer import (
    received_attention, token_attention, upsample_token_mask,
    window_attention_mask, window_layout, window_token_index)
from test_token_maskers import MASKERS

# stage widths 8, 16, 32, 64; 4-px patches, 2 x 2 windows: at 64 px the
# stages are 16, 8, 4, 2 tokens wide, the last one a single window
ARCH = dict(embed_dims=8, depths=[1, 1, 1, 2], num_heads=[1, 1, 1, 2])
C = 64  # the last stage's width


def _swin(cls=MSTSwinTransformer, arch=ARCH, **kwargs):
    torch.manual_seed(0)
    cfg = dict(arch=arch, img_size=64, window_size=2)
    cfg.update(kwargs)
    model = cls(**cfg)
    model.init_weights()
    model.eval()  # mmpretrain's BaseBackbone.train returns None
    return model


def _plain_copy(model, **kwargs):
    """A plain ``SwinTransformer`` with ``model``'s weights (strict load,
    ``mask_token`` left out)."""
    plain = SwinTransformer(arch=model.arch_settings, img_size=64,
                            window_size=model.stages[0].blocks[0].attn.
                            window_size, **kwargs)
    state = {k: v for k, v in model.state_dict().items() if k != 'mask_token'}
    plain.load_state_dict(state, strict=True)
    plain.eval()
    return plain


def _images(batch=2, size=64):
    return torch.randn(batch, 3, size, size,
                       generator=torch.Generator().manual_seed(1))


def _capture_output(module):
    seen = []
    module.register_forward_hook(lambda m, args, out: seen.append(out))
    return seen


def _bias(w_msa, side, r_i, c_i, r_j, c_j):
    """Relative position bias of query (r_i, c_i) and key (r_j, c_j) of a
    ``side x side`` window, from the original Swin's table layout."""
    row = (r_i - r_j + side - 1) * (2 * side - 1) + (c_i - c_j + side - 1)
    return w_msa.relative_position_bias_table[row]  # (heads, )


def _window_attention_by_hand(block, normed, positions, side):
    """Head-averaged softmax attention among ``positions`` (tokens of one
    window: (token index, row in window, column in window)), per image,
    with explicit loops over query and key."""
    w_msa = block.attn.w_msa
    heads = w_msa.num_heads
    dim = normed.shape[-1] // heads
    q, k, _ = w_msa.qkv(normed).split(normed.shape[-1], dim=-1)
    out = {}
    for b in range(normed.shape[0]):
        for i, r_i, c_i in positions:
            logits = torch.stack([
                torch.stack([
                    (q[b, i, h * dim:(h + 1) * dim] * w_msa.scale *
                     k[b, j, h * dim:(h + 1) * dim]).sum() +
                    _bias(w_msa, side, r_i, c_i, r_j, c_j)[h]
                    for h in range(heads)
                ]) for j, r_j, c_j in positions
            ])  # (keys, heads)
            probs = logits.softmax(dim=0).mean(dim=1)
            for (j, _, _), p in zip(positions, probs):
                out[b, i, j] = p
    return out


def test_builds_from_registry_with_one_extra_parameter():
    model = MODELS.build(dict(type='MSTSwinTransformer', arch=ARCH,
                              img_size=64, window_size=2))
    assert isinstance(model, MSTSwinTransformer)
    plain = SwinTransformer(arch=ARCH, img_size=64, window_size=2)
    assert set(model.state_dict()) - set(plain.state_dict()) == {'mask_token'}
    assert set(plain.state_dict()) <= set(model.state_dict())
    assert model.mask_token.shape == (1, 1, 8)
    assert model.num_extra_tokens == 1


def test_constructor_arguments_are_checked():
    with pytest.raises(ValueError, match="out_type='cls_token'"):
        MSTSwinTransformer(arch=ARCH, out_type='cls_token')
    with pytest.raises(ValueError, match='use_abs_pos_embed=True'):
        MSTSwinTransformer(arch=ARCH, use_abs_pos_embed=True)
    with pytest.raises(ValueError, match=r'out_indices=\(2,\).*3'):
        MSTSwinTransformer(arch=ARCH, out_indices=(2, ))
    with pytest.raises(ValueError, match="return_attention='cl'"):
        _swin().forward_tokens(_images(), return_attention='cl')


def test_mask_token_init_and_layer_depth():
    model = MSTSwinTransformer(arch=dict(ARCH, embed_dims=64),
                               window_size=2)
    assert torch.count_nonzero(model.mask_token) == 0
    torch.manual_seed(0)
    model.init_weights()
    assert 0.015 < model.mask_token.detach().std().item() < 0.025
    depth = sum(ARCH['depths']) + 2
    assert model.get_layer_depth('backbone.mask_token', 'backbone.') == (
        0, depth)
    assert model.get_layer_depth('backbone.norm3.weight', 'backbone.') == (
        depth - 1, depth)


@pytest.mark.parametrize('size', [224, 96, 64, 40, 27])
def test_token_grid_is_the_last_stage(size):
    model = _swin(window_size=7, img_size=224)
    plain = _plain_copy(model, pad_small_map=True)  # runs at any size
    (featmap, ) = plain(_images(1, size))
    expected = {224: 7, 96: 3, 64: 2, 40: 2, 27: 1}[size]
    assert model.token_grid(_images(1, size)) == (expected, expected)
    assert featmap.shape[2:] == (expected, expected)
    assert model.mask_scale == (8, 8)


def test_upsample_token_mask_by_hand():
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(2, 6, generator=g) < 0.5
    grid, patch_grid = (2, 3), (10, 20)  # cells of 8 x 8, cut at 10 / 20
    out = upsample_token_mask(mask, grid, (8, 8), patch_grid)
    assert out.shape == (2, 200) and out.dtype == torch.bool
    for b in range(2):
        for r in range(10):
            for c in range(20):
                assert out[b, r * 20 + c] == mask[b, (r // 8) * 3 + c // 8]


def test_mask_replaces_only_masked_patch_embeddings():
    # 40 px: a 10 x 10 patch grid, a 2 x 2 last stage (the cells of the
    # second row and column cover 2 patch rows / columns only)
    model = _swin()
    images = _images(size=40)
    mask = torch.tensor([[True, False, False, True], [False, True, False,
                                                      False]])
    embedded = _capture_output(model.patch_embed)
    entering = []
    model.stages[0].blocks[0].register_forward_pre_hook(
        lambda m, args: entering.append(args[0]))
    model.forward_tokens(images, mask=mask)
    (patches, _), = embedded
    (tokens, ) = entering
    token = model.mask_token[0, 0]
    for b in range(2):
        for r in range(10):
            for c in range(10):
                i = r * 10 + c
                want = (token if mask[b, (r // 8) * 2 + c // 8] else
                        patches[b, i])
                assert torch.equal(tokens[b, i], want)


def test_wrong_mask_shape_is_named():
    model = _swin()
    with pytest.raises(ValueError, match=r'\(B, h\*w\) = \(2, 4\)'):
        model.forward_tokens(_images(), mask=torch.zeros(2, 256).bool())
    with pytest.raises(ValueError, match='bool'):
        model.forward_tokens(_images(), mask=torch.zeros(2, 4))


def test_importance_is_the_mean_attention_a_token_receives_in_one_window():
    # 64 px: the last stage is 2 x 2, one window, unshifted (the map's side
    # equals the window); the last block is read in the same forward
    model = _swin()
    block = model.stages[3].blocks[1]
    normed = _capture_output(block.norm1)
    tokens, importance = model.forward_tokens(_images(), return_attention=True)
    _, patch = model.forward_tokens(_images(), return_attention='patch')
    positions = [(r * 2 + c, r, c) for r in range(2) for c in range(2)]
    by_hand = _window_attention_by_hand(block, normed[0], positions, 2)
    assert importance.shape == (2, 4) and patch.shape == (2, 4, 4)
    for b in range(2):
        for j in range(4):
            for i in range(4):
                assert torch.allclose(patch[b, i, j], by_hand[b, i, j],
                                      atol=1e-6)
            mean = sum(by_hand[b, i, j] for i in range(4)) / 4
            assert torch.allclose(importance[b, j], mean, atol=1e-6)
    # the attention came out of the forward that made the tokens
    plain_tokens, _ = model.forward_tokens(_images())
    assert torch.equal(tokens, plain_tokens)


def test_several_windows_by_hand():
    # 128 px: the last stage is 4 x 4, four 2 x 2 windows; with one block
    # in the last stage that block is unshifted
    arch = dict(ARCH, depths=[1, 1, 1, 1])
    model = _swin(arch=arch)
    block = model.stages[3].blocks[0]
    normed = _capture_output(block.norm1)
    _, importance = model.forward_tokens(_images(size=128),
                                         return_attention=True)
    _, patch = model.forward_tokens(_images(size=128),
                                    return_attention='patch')
    by_hand = {}
    for wr in range(2):
        for wc in range(2):
            positions = [((2 * wr + r) * 4 + 2 * wc + c, r, c)
                         for r in range(2) for c in range(2)]
            by_hand.update(_window_attention_by_hand(block, normed[0],
                                                     positions, 2))
    for b in range(2):
        for j in range(16):
            for i in range(16):
                want = by_hand.get((b, i, j), torch.tensor(0.))
                assert torch.allclose(patch[b, i, j], want, atol=1e-6)
            mean = sum(by_hand[b, i, j] for i in range(16)
                       if (b, i, j) in by_hand) / 4
            assert torch.allclose(importance[b, j], mean, atol=1e-6)


def test_shifted_windows_attend_within_their_regions():
    # 128 px, two blocks in the last stage: the second is shifted by 1, so
    # a token attends to those of its window of the rolled map and of its
    # region there (Swin's shift mask)
    model = _swin()
    tokens, patch = model.forward_tokens(_images(size=128),
                                         return_attention='patch')
    side, shift, size = 4, 1, 2

    def label(r, c):
        rr, cc = (r - shift) % side, (c - shift) % side
        region = [0 if x < side - size else 1 if x < side - shift else 2
                  for x in (rr, cc)]
        return rr // size, cc // size, region[0], region[1]

    for i in range(16):
        for j in range(16):
            same = label(i // 4, i % 4) == label(j // 4, j % 4)
            assert bool((patch[:, i, j] > 0).all()) == same, (i, j)
    assert torch.allclose(patch.sum(-1), torch.ones(2, 16), atol=1e-5)
    plain_tokens, _ = model.forward_tokens(_images(size=128))
    assert torch.equal(tokens, plain_tokens)


def test_token_attention_and_received_attention_by_hand():
    # a 3 x 3 map in 2 x 2 windows without shift: padded to 4 x 4, four
    # windows holding 4, 2, 2 and 1 tokens
    layout = window_layout((3, 3), 2, 0, False)
    assert layout == (0, 1, 1, False)
    index = window_token_index((3, 3), 2, layout)
    assert index.tolist() == [[0, 1, 3, 4], [2, -1, 5, -1],
                              [6, 7, -1, -1], [8, -1, -1, -1]]
    assert window_attention_mask((3, 3), 2, layout, index) is None
    weights = torch.rand(1, 4, 4, 4)
    attention, visible = token_attention(weights, index, None, 9)
    for w in range(4):
        for p in range(4):
            for q in range(4):
                i, j = index[w, p].item(), index[w, q].item()
                if i >= 0 and j >= 0:
                    assert attention[0, i, j] == weights[0, w, p, q]
    assert visible.sum() == 16 + 4 + 4 + 1
    assert attention[0, 0, 2] == 0 and not visible[0, 2]
    importance = received_attention(attention, visible)
    assert torch.allclose(importance[0, 4], attention[0, [0, 1, 3, 4],
                                                      4].sum() / 4)
    assert torch.allclose(importance[0, 8], attention[0, 8, 8])


def test_window_layout_follows_the_parent_and_masks_small_maps():
    assert window_layout((56, 56), 7, 3, False) == (3, 0, 0, False)
    assert window_layout((7, 7), 7, 3, False) == (0, 0, 0, False)
    assert window_layout((7, 7), 7, 3, True) == (3, 0, 0, False)
    assert window_layout((16, 16), 7, 3, False) == (3, 5, 5, False)
    assert window_layout((3, 3), 7, 3, True) == (3, 4, 4, False)
    # smaller than the window without pad_small_map (the parent refuses):
    # no shift, padded keys masked
    layout = window_layout((3, 3), 7, 3, False)
    assert layout == (0, 4, 4, True)
    index = window_token_index((3, 3), 7, layout)
    mask = window_attention_mask((3, 3), 7, layout, index)
    assert mask.shape == (1, 49, 49)
    assert torch.equal(mask[0] == 0, (index[0] >= 0).expand(49, 49))


def test_local_crops_run_without_pad_small_map():
    # window 7 as Swin-T: a 96-px crop has 6 x 6 and 3 x 3 maps in the last
    # two stages, which mmpretrain's Swin refuses without pad_small_map
    model = _swin(window_size=7, img_size=224)
    images = _images(size=96)
    with pytest.raises(AssertionError, match='pad_small_map'):
        _plain_copy(model)(images)
    (featmap, ) = model(images)
    assert featmap.shape == (2, C, 3, 3)
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[:, 4] = True
    tokens, patch = model.forward_tokens(images, mask=mask,
                                         return_attention='patch')
    assert tokens.shape == (2, 10, C)
    # one window covers the map and the padded keys take no attention
    assert (patch > 0).all()
    assert torch.allclose(patch.sum(-1), torch.ones(2, 9), atol=1e-5)
    # at 224 px the 7 x 7 last stage is one window: the importance is the
    # mean over all 49 queries
    _, patch = model.forward_tokens(_images(1, 224),
                                    return_attention='patch')
    _, importance = model.forward_tokens(_images(1, 224),
                                         return_attention=True)
    assert (patch > 0).all()
    assert torch.allclose(importance, patch.mean(dim=1), atol=1e-7)


def test_a_single_token_attends_to_itself():
    # 32 px, window 2: the last stage is 1 x 1, padded to the window with
    # the padded keys masked
    model = _swin()
    _, patch = model.forward_tokens(_images(size=32),
                                    return_attention='patch')
    _, importance = model.forward_tokens(_images(size=32),
                                         return_attention=True)
    assert torch.allclose(patch, torch.ones(2, 1, 1))
    assert torch.allclose(importance, torch.ones(2, 1))


@pytest.mark.parametrize('pad_small_map', [False, True])
@pytest.mark.parametrize('size', [64, 128, 40, 48])
def test_weights_load_into_plain_swin_with_equal_outputs(size, pad_small_map):
    model = _swin(pad_small_map=pad_small_map)
    plain = _plain_copy(model, pad_small_map=pad_small_map)
    images = _images(size=size)
    (expected, ) = plain(images)
    (featmap, ) = model(images)
    assert torch.equal(featmap, expected)
    last = expected.flatten(2).transpose(1, 2)  # (B, N, C)
    for kind in (False, True, 'patch'):
        tokens, _ = model.forward_tokens(images, return_attention=kind)
        assert torch.allclose(tokens[:, 1:], last, atol=1e-6)
        assert torch.allclose(tokens[:, 0], last.mean(dim=1), atol=1e-6)
    pooled = _swin(pad_small_map=pad_small_map, out_type='avg_featmap')
    (vector, ) = pooled(images)
    assert torch.allclose(vector, last.mean(dim=1), atol=1e-6)


def test_attention_pass_draws_the_same_drop_paths():
    model = _swin(drop_path_rate=0.5)
    model.train()
    images = _images()
    torch.manual_seed(3)
    tokens, _ = model.forward_tokens(images)
    torch.manual_seed(3)
    with_attention, _ = model.forward_tokens(images, return_attention=True)
    assert torch.equal(tokens, with_attention)


def _mst(**kwargs):
    cfg = dict(
        type='MST',
        backbone=dict(type='MSTSwinTransformer', arch=ARCH, img_size=64,
                      window_size=2, drop_path_rate=0.1,
                      out_type='avg_featmap'),
        neck=dict(type='DINOProjectionNeck', in_channels=C, out_channels=32,
                  hidden_channels=16, bottleneck_channels=8, use_bn=True),
        head=dict(type='DINODistillationHead', out_channels=32),
        masker=dict(type='AttentionGuidedMasker', num=2, p=1.0),
        decoder=dict(type='GlobalImageDecoder', in_channels=C,
                     channels=(8, 8, 8, 8, 8)),
        data_preprocessor=dict(type='SelfSupDataPreprocessor'))
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    MessageHub.get_current_instance().update_info('max_iters', 100)
    return model


def _views(size, local, batch=2):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randn(batch, 3, size, size, generator=g)
              for _ in range(2)]
    inputs += [torch.randn(batch, 3, local, local, generator=g)
               for _ in range(2)]
    roles = ('global', 'global', 'local', 'local')
    return inputs, [DataSample(metainfo=dict(view_roles=roles))
                    for _ in range(batch)]


def test_mst_trains_a_tiny_swin():
    model = _mst()
    inputs, samples = _views(64, 32)
    restored = _capture_output(model.decoder)
    guidance = []
    masker_forward = model.masker.forward
    model.masker.forward = lambda *args, **kw: (
        guidance.append(kw['guidance']), masker_forward(*args, **kw))[1]
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_ce', 'loss_restore'}
    assert all(math.isfinite(v.item()) for v in losses.values())
    assert restored[0].shape == torch.cat(inputs[:2]).shape
    assert guidance[0].shape == (4, 4)  # 2 views x 2 images, 2 x 2 tokens
    sum(losses.values()).backward()
    # num=2, p=1: two of the four tokens masked per view
    assert model.backbone.mask_token.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())


@pytest.mark.parametrize('name', MASKERS)
def test_every_masker_drives_mst_on_swin(name):
    # 128 px: 4 x 4 last-stage tokens, as the ViT test's grid
    model = _mst(masker=dict(type=name))
    masks = []
    forward = model.backbone.forward_tokens
    model.backbone.forward_tokens = lambda x, mask=None, **kw: (
        masks.append(mask), forward(x, mask=mask, **kw))[1]
    losses = model.loss(*_views(128, 64))
    assert all(math.isfinite(v.item()) for v in losses.values())
    # the global views (masked), then the local views (never masked)
    mask, *local = masks
    assert local and all(m is None for m in local)
    assert mask.shape == (4, 16)
