"""The hierarchical deep-masking neck and its naive variant."""
import pytest
import torch
from mmpretrain.registry import MODELS

RESNET50_CHANNELS = [256, 512, 1024, 2048]


def _backbone(out_indices):
    backbone = MODELS.build(dict(type='ResNet', depth=50,
                                 out_indices=out_indices,
                                 norm_cfg=dict(type='BN')))
    backbone.eval()  # mmpretrain's ResNet.train() returns None
    return backbone


@pytest.fixture(scope='module')
def c2_to_c5():
    torch.manual_seed(0)
    with torch.no_grad():
        return _backbone((0, 1, 2, 3))(torch.randn(2, 3, 96, 128))


@pytest.mark.parametrize('out_indices', [(3, ), (2, 3), (1, 2, 3),
                                         (0, 1, 2, 3)])
@pytest.mark.parametrize('dim', [256, 512])
def test_levels_shapes_and_strides(c2_to_c5, out_indices, dim):
    neck = MODELS.build(dict(
        type='HierarchicalDeepMaskingNeck',
        in_channels=[RESNET50_CHANNELS[i] for i in out_indices],
        out_channels=dim, num_groups=16, num_points=12))
    inputs = [c2_to_c5[i] for i in out_indices]
    levels = neck.forward_levels(inputs)
    strides = [4 * 2**i for i in out_indices]  # P2..P5 at 4..32
    assert [tuple(lvl.shape) for lvl in levels] == [
        (2, dim, 96 // s, 128 // s) for s in strides]
    assert neck(inputs).shape == (2, 16, 12 * dim)


def test_top_down_reaches_the_finest_level():
    """P3 depends on C5 through the top-down pathway; P5 not on C3."""
    neck = MODELS.build(dict(type='HierarchicalDeepMaskingNeck',
                             in_channels=[8, 16, 32], out_channels=4))
    c3, c4, c5 = (torch.randn(1, c, s, s, requires_grad=True)
                  for c, s in ((8, 8), (16, 4), (32, 2)))
    p3, p4, p5 = neck.forward_levels([c3, c4, c5])
    assert torch.autograd.grad(p3.sum(), c5)[0].abs().sum() > 0
    assert torch.autograd.grad(p5.sum(), c3, allow_unused=True)[0] is None


def test_default_is_the_paper_setting():
    neck = MODELS.build(dict(type='HierarchicalDeepMaskingNeck',
                             in_channels=[512, 1024, 2048]))
    assert (neck.out_channels, neck.num_groups, neck.num_points) == (512, 16,
                                                                    12)


def test_naive_samples_points_of_the_last_stage(c2_to_c5):
    neck = MODELS.build(dict(type='PointSamplingNeck',
                             in_channels=RESNET50_CHANNELS[1:], num_groups=3,
                             num_points=5))
    assert list(neck.parameters()) == []
    groups = neck(c2_to_c5[1:])
    assert groups.shape == (2, 3, 5 * 2048)
    c5_points = c2_to_c5[3].flatten(2).transpose(1, 2)  # (B, 12, 2048)
    for b in range(2):
        for point in groups[b].reshape(-1, 2048):
            assert (c5_points[b] == point).all(1).any()


def test_mismatched_stages_are_named(c2_to_c5):
    neck = MODELS.build(dict(type='HierarchicalDeepMaskingNeck',
                             in_channels=[512, 1024, 2048]))
    with pytest.raises(ValueError, match='out_indices'):
        neck(c2_to_c5[2:])
