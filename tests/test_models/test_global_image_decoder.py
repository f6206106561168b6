"""MST's global image decoder and its L1 restoration loss (Sec. 3.3, Eq. 9)."""
import pytest
import torch
from mmpretrain.models.losses import PixelReconstructionLoss
from mmpretrain.registry import MODELS
from torch import nn

from maskssl.models.backbones import MSTVisionTransformer
from maskssl.models.necks import GlobalImageDecoder
from maskssl.models.necks.global_image_decoder import tokens_to_feature_map

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _l1():
    return PixelReconstructionLoss(criterion='L1', channel=3)


def test_tokens_to_feature_map_is_raster_order():
    tokens = torch.randn(2, 6, 4)
    fmap = tokens_to_feature_map(tokens, (2, 3))
    assert fmap.shape == (2, 4, 2, 3)
    for b in range(2):
        for i in range(2):
            for j in range(3):
                assert torch.equal(fmap[b, :, i, j], tokens[b, i * 3 + j])


def test_default_stages_follow_sec_3_3():
    """Four Conv3x3-BN-ReLU-2x up-sampling stages, H/16 -> H, then a conv
    to RGB."""
    decoder = MODELS.build(dict(type='GlobalImageDecoder', in_channels=32))
    assert decoder.scale == 16
    convs = [m for m in decoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] \
        == [(32, 256, (3, 3)), (256, 128, (3, 3)), (128, 64, (3, 3)),
            (64, 32, (3, 3)), (32, 3, (3, 3))]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in decoder.modules()) == 4
    ups = [m for m in decoder.modules() if isinstance(m, nn.Upsample)]
    assert [(u.scale_factor, u.mode) for u in ups] == [(2.0, 'bilinear')] * 4
    out = decoder(torch.randn(2, 6, 32), (2, 3))
    assert out.shape == (2, 3, 32, 48)


@pytest.mark.parametrize('mode', ['bilinear', 'nearest'])
def test_output_has_the_input_image_shape(mode):
    """Tiny ViT with 8-px patches: three 2x stages back to 32x32 pixels."""
    torch.manual_seed(0)
    vit = MSTVisionTransformer(arch=ARCH, img_size=32, patch_size=8,
                               out_type='raw')
    decoder = GlobalImageDecoder(32, channels=(16, 8, 4), upsample_mode=mode)
    images = torch.randn(2, 3, 32, 32)
    tokens = vit(images)[0][:, 1:]
    assert decoder(tokens, (4, 4)).shape == images.shape


def test_l1_loss_is_eq9_mean_absolute_error():
    pred = torch.tensor([[[[1., 2.], [3., 4.]], [[0., 0.], [1., 1.]],
                          [[-1., 5.], [2., 2.]]]])
    target = torch.tensor([[[[0., 2.], [5., 4.]], [[1., 1.], [1., 1.]],
                            [[1., 1.], [2., 0.]]]])
    pred = torch.cat([pred, pred.flip(-1)])
    target = torch.cat([target, target * 0.5])
    total, count = 0., 0
    for b in range(2):
        for c in range(3):
            for i in range(2):
                for j in range(2):
                    total += abs(pred[b, c, i, j].item() -
                                 target[b, c, i, j].item())
                    count += 1
    assert _l1()(pred, target).item() == pytest.approx(total / count)


def test_restoration_loss_trains_decoder_and_masked_student():
    torch.manual_seed(0)
    vit = MSTVisionTransformer(arch=ARCH, img_size=32, patch_size=8,
                               out_type='raw')
    vit.init_weights()
    decoder = GlobalImageDecoder(32, channels=(16, 8, 4))
    images = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, ::3] = True
    tokens = vit(images, mask=mask)[0][:, 1:]
    tokens.retain_grad()
    loss = _l1()(decoder(tokens, (4, 4)), images)
    loss.backward()
    assert tokens.grad.abs().sum() > 0
    for name, param in [('mask_token', vit.mask_token),
                        ('patch_embed', vit.patch_embed.projection.weight),
                        ('decoder', decoder.to_image.weight)]:
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kwargs, match', [
    (dict(in_channels='384'), 'in_channels'),
    (dict(in_channels=8, channels=()), 'channels'),
    (dict(in_channels=8, channels=256), 'channels'),
    (dict(in_channels=8, channels=(4, 0)), r'channels\[1\]'),
    (dict(in_channels=8, out_channels=0), 'out_channels'),
    (dict(in_channels=8, upsample_mode='bicubic'), 'upsample_mode'),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GlobalImageDecoder(**kwargs)


@pytest.mark.parametrize('shape', [(2, 5, 8), (2, 4, 6), (4, 8)])
def test_tokens_not_matching_grid_or_channels_raise(shape):
    decoder = GlobalImageDecoder(8, channels=(4, ))
    with pytest.raises(ValueError, match=r'\(B, 4, 8\)'):
        decoder(torch.randn(*shape), (2, 2))
