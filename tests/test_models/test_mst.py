"""MST (maskssl.models.algorithms.mst) on a tiny ViT: teacher, masking from
the teacher's attention, BN statistics, losses, and every masker of the
family as MST's masker."""
import math
from math import cos, pi

import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from maskssl.checkpoint import load_backbone_weights
from maskssl.models.algorithms.mst import split_views, symmetric
from maskssl.models.utils.attention import class_attention
from test_token_maskers import MASKERS
# the converter tests' tool loader
from test_tools.test_model_converters import load_tool

B, SIZE, LOCAL = 4, 32, 16  # 32 px / 8 px patches: a 4 x 4 grid


def mst_cfg(**kwargs) -> dict:
    cfg = dict(
        type='MST',
        backbone=dict(type='MSTVisionTransformer',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                feedforward_channels=64),
                      img_size=SIZE, patch_size=8, drop_path_rate=0.1,
                      out_type='cls_token'),
        neck=dict(type='DINOProjectionNeck', in_channels=32, out_channels=64,
                  hidden_channels=32, bottleneck_channels=16, use_bn=True),
        head=dict(type='DINODistillationHead', out_channels=64),
        masker=dict(type='AttentionGuidedMasker', num=2, p=0.5),
        decoder=dict(type='GlobalImageDecoder', in_channels=32,
                     channels=(16, 8, 8)),
        data_preprocessor=dict(type='SelfSupDataPreprocessor'))
    cfg.update(kwargs)
    return cfg


def build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(mst_cfg(**kwargs))
    model.init_weights()
    MessageHub.get_current_instance().update_info('max_iters', 100)
    return model


def views(num_local: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(B, 3, SIZE, SIZE, generator=g) for _ in range(2)]
    inputs += [torch.randn(B, 3, LOCAL, LOCAL, generator=g)
               for _ in range(num_local)]
    roles = ('global', 'global') + ('local', ) * num_local
    samples = [DataSample(metainfo=dict(view_roles=roles)) for _ in range(B)]
    return inputs, samples


def test_split_views_and_roles():
    inputs, samples = views()
    roles = ('global', 'global', 'local', 'local')
    g, loc = split_views(inputs, roles)
    assert len(g) == 2 and len(loc) == 2
    with pytest.raises(ValueError, match='target'):
        split_views(inputs, ('global', 'global', 'target', 'local'))
    with pytest.raises(ValueError, match='two global'):
        split_views(inputs, ('global', 'local', 'local', 'local'))


def test_symmetric_similarity():
    a = torch.rand(2, 5, 5)
    s = symmetric(a)
    assert torch.allclose(s, s.transpose(1, 2))
    assert torch.allclose(s[0, 1, 3], (a[0, 1, 3] + a[0, 3, 1]) / 2)


def test_losses_and_the_restoration_term_by_hand():
    model = build()
    inputs, samples = views()
    restored = {}
    model.decoder.register_forward_hook(
        lambda m, args, out: restored.setdefault('out', out))
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_ce', 'loss_restore'}
    imgs = torch.cat(inputs[:2])
    assert restored['out'].shape == imgs.shape
    # Eq. 9: mean absolute error over all pixels of the global views,
    # weighted by lambda_2 = 0.6 (Eq. 11)
    expected = 0.6 * (restored['out'] - imgs).abs().mean()
    assert torch.allclose(losses['loss_restore'], expected)
    assert math.isfinite(losses['loss_ce'].item())


def test_plain_dino_without_masker_and_decoder():
    model = build(masker=None, decoder=None)
    calls = []
    model.backbone.forward_tokens = (
        lambda f: lambda x, mask=None, **kw: (calls.append(mask), f(
            x, mask=mask, **kw))[1])(model.backbone.forward_tokens)
    losses = model.loss(*views())
    assert set(losses) == {'loss_ce'} and calls == [None, None]


def test_student_masks_come_from_the_teacher_attention_of_the_same_crop():
    model = build()
    inputs, samples = views()
    imgs = torch.cat(inputs[:2])
    seen = {}
    masker_forward = model.masker.forward

    def spy(batch_size, grid, guidance=None, **kwargs):
        seen['guidance'] = guidance
        seen['mask'] = masker_forward(batch_size, grid, guidance=guidance,
                                      **kwargs)
        return seen['mask']

    model.masker.forward = spy
    student_forward = model.backbone.forward_tokens
    model.backbone.forward_tokens = lambda x, mask=None, **kw: (
        seen.setdefault('student_mask', mask), student_forward(
            x, mask=mask, **kw))[1]
    model.loss(inputs, samples)
    # the teacher after this step's momentum update = the student's weights
    # at step 0: its class attention on the global views, computed apart
    teacher = model.teacher.module[0]
    captured = {}
    handle = teacher.layers[-1].attn.register_forward_hook(
        lambda m, args, out: captured.setdefault('x', args[0]))
    with torch.no_grad():
        teacher(imgs)
    handle.remove()
    attn = teacher.layers[-1].attn
    x = captured['x']
    qkv = attn.qkv(x).reshape(x.shape[0], x.shape[1], 3, attn.num_heads,
                              attn.head_dims).permute(2, 0, 3, 1, 4)
    weights = (qkv[0] @ qkv[1].transpose(-2, -1) *
               attn.head_dims**-0.5).softmax(-1)
    assert seen['guidance'].shape == (2 * B, 16)
    assert torch.allclose(seen['guidance'], class_attention(weights),
                          atol=1e-6)
    assert seen['student_mask'] is seen['mask']
    assert seen['mask'].shape == (2 * B, 16)


def test_teacher_gets_no_gradient_and_follows_the_momentum_formula():
    model = build()
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.5)
    inputs, samples = views()
    losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    optimizer.step()
    name = 'layers.0.attn.qkv.weight'
    teacher = dict(model.teacher.module[0].named_parameters())[name]
    before = teacher.detach().clone()
    student = dict(model.backbone.named_parameters())[name].detach().clone()
    assert not torch.equal(before, student)
    model.loss(*views(seed=1))
    steps, max_iters = 1, 100  # the second update, of 100 iterations
    m = 0.0 - (0.0 - 0.004) * (cos(pi * steps / max_iters) + 1) / 2
    assert torch.allclose(teacher, (1 - m) * before + m * student)


def test_teacher_has_no_drop_path():
    model = build()
    rates = [m.drop_prob for m in model.teacher.modules()
             if type(m).__name__ == 'DropPath']
    student = [m.drop_prob for m in model.backbone.modules()
               if type(m).__name__ == 'DropPath']
    assert rates and all(r == 0 for r in rates)
    assert any(r > 0 for r in student)


def test_head_bn_statistics_move_with_global_views_only():
    inputs, samples = views(num_local=2)

    def neck_stats(inputs, roles):
        model = build()
        samples = [DataSample(metainfo=dict(view_roles=roles))
                   for _ in range(B)]
        torch.manual_seed(1)
        model.loss(inputs, samples)
        return [b.clone() for n, b in model.neck.named_buffers()
                if 'running' in n]

    with_locals = neck_stats(inputs, ('global', 'global', 'local', 'local'))
    without = neck_stats(inputs[:2], ('global', 'global'))
    fresh = [b for n, b in build().neck.named_buffers() if 'running' in n]
    assert all(torch.equal(a, b) for a, b in zip(with_locals, without))
    assert not all(torch.equal(a, b) for a, b in zip(with_locals, fresh))


@pytest.mark.parametrize('name', MASKERS)
def test_every_masker_drives_mst(name):
    model = build(masker=dict(type=name))
    masks = []
    forward = model.backbone.forward_tokens
    model.backbone.forward_tokens = lambda x, mask=None, **kw: (
        masks.append(mask), forward(x, mask=mask, **kw))[1]
    losses = model.loss(*views())
    sum(losses.values()).backward()
    assert all(math.isfinite(v.item()) for v in losses.values())
    # the global views (masked), then the local views (never masked)
    mask, *local = masks
    assert local and all(m is None for m in local)
    assert mask.shape == (2 * B, 16) and mask.any()
    # the [MASK] embedding reached the student where tokens were masked
    assert model.backbone.mask_token.grad.abs().sum() > 0


def test_decoder_that_misses_the_input_size_is_named():
    model = build(decoder=dict(type='GlobalImageDecoder', in_channels=32,
                               channels=(16, 8)))
    with pytest.raises(ValueError, match='log2'):
        model.loss(*views())


def test_backbone_without_mask_support_is_refused():
    with pytest.raises(TypeError, match='MSTVisionTransformer'):
        MODELS.build(mst_cfg(backbone=dict(
            type='VisionTransformer', arch=dict(
                embed_dims=32, num_layers=2, num_heads=2,
                feedforward_channels=64), img_size=SIZE, patch_size=8)))


def test_extract_mst_teacher_backbone(tmp_path):
    """``--prefix teacher.module.0.`` extracts MST's EMA teacher (the network
    DINO evaluates and releases) into a plain mmpretrain ViT."""
    model = build()
    model.teacher.update_parameters(
        torch.nn.Sequential(model.backbone, model.neck))  # teacher = student
    with torch.no_grad():
        for param in model.backbone.parameters():
            param.add_(1.0)  # the student moves on, the teacher does not
    src, dst = str(tmp_path / 'mst.pth'), str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': model.state_dict()}, src)
    load_tool('extract_backbone_weights').main(
        [src, dst, '--prefix', 'teacher.module.0.'])
    vit = VisionTransformer(
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=64),
        img_size=SIZE, patch_size=8, out_type='cls_token')
    assert load_backbone_weights(vit, dst, allow_unexpected=(
        'mask_token', )) == len(vit.state_dict())
    teacher = model.teacher.module[0].state_dict()
    student = model.backbone.state_dict()
    for name, value in vit.state_dict().items():
        assert torch.equal(value, teacher[name]), name
        if value.is_floating_point():
            assert not torch.equal(value, student[name]), name
