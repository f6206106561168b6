"""The modules the transfer benchmarks add: ViTDet's SimpleFeaturePyramid,
DINO's NormedBlocksViT + ConcatNeck and the backbone layer-decay optimizer
constructor for detectors and segmentors."""
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.backbones import ResNet as MMDetResNet
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.models import VisionTransformer
from torch import nn

from maskssl.models.backbones.normed_blocks_vit import NormedBlocksViT
from maskssl.models.necks.concat_neck import ConcatNeck
from maskssl.models.necks.simple_feature_pyramid import SimpleFeaturePyramid

IN_CHANNELS, OUT_CHANNELS = 64, 16


# --------------------------------------------------------------------------
# SimpleFeaturePyramid


def _pyramid(**kwargs) -> SimpleFeaturePyramid:
    torch.manual_seed(0)
    neck = SimpleFeaturePyramid(in_channels=IN_CHANNELS,
                                out_channels=OUT_CHANNELS, **kwargs)
    neck.init_weights()
    return neck


def test_pyramid_shapes_follow_strides_4_to_64():
    neck = _pyramid()
    x = torch.randn(2, IN_CHANNELS, 8, 12)  # a stride-16 map
    outs = neck((torch.randn(2, IN_CHANNELS, 4, 6), x))  # uses the last
    assert [tuple(o.shape) for o in outs] == [
        (2, OUT_CHANNELS, 32, 48),  # stride 4
        (2, OUT_CHANNELS, 16, 24),  # stride 8
        (2, OUT_CHANNELS, 8, 12),  # stride 16
        (2, OUT_CHANNELS, 4, 6),  # stride 32
        (2, OUT_CHANNELS, 2, 3),  # stride 64
    ]
    assert all(torch.isfinite(o).all() for o in outs)


def test_pyramid_has_vitdet_widths():
    neck = _pyramid()
    x4, x2, x1, x05 = (stage[0] for stage in neck.stages)
    deconvs = [m for m in x4.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.stride) for m in deconvs] == [
        (IN_CHANNELS, IN_CHANNELS // 2, (2, 2)),
        (IN_CHANNELS // 2, IN_CHANNELS // 4, (2, 2))]
    assert isinstance(x2, nn.ConvTranspose2d)
    assert (x2.in_channels, x2.out_channels) == (IN_CHANNELS, IN_CHANNELS // 2)
    assert isinstance(x1, nn.Identity)
    assert isinstance(x05, nn.MaxPool2d)
    # each level's 1x1 projection takes that level's width
    widths = [IN_CHANNELS // 4, IN_CHANNELS // 2, IN_CHANNELS, IN_CHANNELS]
    for stage, width in zip(neck.stages, widths):
        assert (stage[1].in_channels, stage[1].out_channels) == (
            width, OUT_CHANNELS)


def test_pyramid_extra_level_is_pooled_from_the_last():
    neck = _pyramid(num_outs=6)
    outs = neck((torch.randn(2, IN_CHANNELS, 8, 12), ))
    assert len(outs) == 6
    assert torch.equal(outs[4], F.max_pool2d(outs[3], 1, stride=2))
    assert torch.equal(outs[5], F.max_pool2d(outs[4], 1, stride=2))
    assert outs[5].shape[-2:] == (1, 2)


@pytest.mark.parametrize('kwargs', [
    dict(scale_factors=(4.0, 3.0, 1.0)),
    dict(scale_factors=(4.0, 2.0, 1.0, 0.5), num_outs=3),
])
def test_pyramid_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SimpleFeaturePyramid(in_channels=IN_CHANNELS, **kwargs)


def test_pyramid_passes_gradients_to_the_input():
    neck = _pyramid()
    x = torch.randn(2, IN_CHANNELS, 8, 12, requires_grad=True)
    outs = neck((x, ))
    sum(o.square().mean() for o in outs).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in neck.parameters())


# --------------------------------------------------------------------------
# NormedBlocksViT + ConcatNeck

BLOCKS = (8, 9, 10, 11)


def test_normed_blocks_normalise_every_output():
    torch.manual_seed(0)
    normed = NormedBlocksViT(arch='deit-tiny', img_size=32,
                             out_indices=BLOCKS)
    with torch.no_grad():  # so that ln1 is no identity
        normed.ln1.weight.normal_()
        normed.ln1.bias.normal_()
    plain = VisionTransformer(arch='deit-tiny', img_size=32, out_type='raw',
                              out_indices=BLOCKS, final_norm=False)
    result = plain.load_state_dict(normed.state_dict(), strict=False)
    assert result.missing_keys == []
    assert sorted(result.unexpected_keys) == ['ln1.bias', 'ln1.weight']

    normed.eval()  # BaseBackbone.train returns None: no chaining
    plain.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        outs = normed(x)
        raws = plain(x)
        expected = [normed.ln1(raw)[:, 0] for raw in raws]
    assert len(outs) == len(BLOCKS)
    for out, exp, raw in zip(outs, expected, raws):
        assert out.shape == (2, 192)
        torch.testing.assert_close(out, exp, rtol=0, atol=1e-6)
        assert not torch.allclose(out, raw[:, 0])


def test_normed_blocks_keep_the_backbone_keys():
    plain = VisionTransformer(arch='deit-tiny', img_size=32)
    normed = NormedBlocksViT(arch='deit-tiny', img_size=32,
                             out_indices=BLOCKS)
    assert list(normed.state_dict()) == list(plain.state_dict())
    shapes = {k: v.shape for k, v in plain.state_dict().items()}
    assert {k: v.shape for k, v in normed.state_dict().items()} == shapes


def test_normed_blocks_freeze_the_final_norm_with_all_blocks():
    # the DINO linear config freezes all 12 blocks; ln1 must be frozen too
    normed = NormedBlocksViT(arch='deit-tiny', img_size=32,
                             out_indices=BLOCKS, frozen_stages=12)
    assert not any(p.requires_grad for p in normed.parameters())


def test_normed_blocks_need_the_final_norm():
    with pytest.raises(ValueError, match='final_norm'):
        NormedBlocksViT(arch='deit-tiny', final_norm=False)


def test_concat_neck_concatenates_channels():
    inputs = (torch.randn(2, 3), torch.randn(2, 5), torch.randn(2, 4))
    outs = ConcatNeck()(inputs)
    assert isinstance(outs, tuple) and len(outs) == 1
    assert torch.equal(outs[0], torch.cat(inputs, dim=1))


# --------------------------------------------------------------------------
# BackboneLayerDecayOptimWrapperConstructor


class _Detector(nn.Module):
    """The parts of a detector / segmentor the constructor looks at."""

    def __init__(self, backbone: nn.Module, width: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(width, 8)


def _layer_decay_wrapper(model, constructor):
    return build_optim_wrapper(
        model,
        dict(optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
             constructor=constructor,
             paramwise_cfg=dict(layer_decay_rate=0.5)))


def _lrs(wrapper) -> dict:
    return {g['param_name']: g['lr'] for g in wrapper.optimizer.param_groups}


@pytest.mark.parametrize('scope,constructor', [
    (None, 'mmpretrain.BackboneLayerDecayOptimWrapperConstructor'),
    ('mmdet', 'mmpretrain.BackboneLayerDecayOptimWrapperConstructor'),
    ('mmpretrain', 'BackboneLayerDecayOptimWrapperConstructor'),
])
def test_layer_decay_follows_backbone_depth(scope, constructor):
    model = _Detector(VisionTransformer(arch='deit-tiny', img_size=32), 192)
    with DefaultScope.overwrite_default_scope(scope):
        lrs = _lrs(_layer_decay_wrapper(model, constructor))
    names = [n for n, p in model.named_parameters()]
    assert sorted(lrs) == sorted(names)
    # 12 blocks: depth 0 the stem, 1-12 the blocks, 13 everything else
    for name, lr in lrs.items():
        if name.startswith('backbone.layers.'):
            block = int(name.split('.')[2])
            assert lr == pytest.approx(0.5**(14 - (block + 1) - 1)), name
    layer3 = [n for n in lrs if n.startswith('backbone.layers.3.')]
    assert layer3 and all(lrs[n] == pytest.approx(0.5**(14 - 4 - 1))
                          for n in layer3)
    for name in ('backbone.cls_token', 'backbone.pos_embed',
                 'backbone.patch_embed.projection.weight',
                 'backbone.patch_embed.projection.bias'):
        assert lrs[name] == pytest.approx(0.5**13), name
    for name in ('head.weight', 'head.bias', 'backbone.ln1.weight'):
        assert lrs[name] == 1.0, name


def test_layer_decay_names_a_backbone_without_depths():
    model = _Detector(MMDetResNet(depth=18), 512)
    with pytest.raises(TypeError, match='ResNet'):
        _layer_decay_wrapper(
            model, 'mmpretrain.BackboneLayerDecayOptimWrapperConstructor')
