"""SCDA saliency (Sec. 3.1, Eq. 1): the threshold on hand-built activation
maps, the cell grid, and SCDASaliency's two sources, freezing and checkpoint
checks."""
import math

import pytest
import torch
from mmengine.model import BaseModule
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS
from torch import nn

from maskssl.models.saliency import SCDASaliency
from maskssl.models.saliency.functional import (cell_grid, cells_to_pixels,
                                                scda_foreground)

KEY = 'model.saliency.network.init_cfg.checkpoint'
# a tiny ResNet (base width 8): a real ResNet-18, fast to build and save
TINY = dict(stem_channels=8, base_channels=8)


def _net(depth: int = 18, init_cfg=None) -> dict:
    return dict(type='ResNet', depth=depth, out_indices=(3, ),
                init_cfg=init_cfg, **TINY)


def _pretrained(checkpoint, prefix=None, depth=18, **kwargs) -> SCDASaliency:
    return SCDASaliency(
        source='pretrained',
        network=_net(depth, dict(type='Pretrained', checkpoint=checkpoint,
                                 prefix=prefix)), **kwargs)


def _random(**kwargs) -> SCDASaliency:
    return SCDASaliency(source='pretrained', network=_net(),
                        allow_random=True, **kwargs)


# ---------------------------------------------------------------- Eq. 1 --

# Image 0: mean 45 / 9 = 5, sum of squared deviations 60 (16 + 9 + 4 + 1 + 0
# + 1 + 4 + 9 + 16), population std sqrt(60 / 9) = 2.5820, threshold
# 5 - 0.6 * 2.5820 = 3.4508: the cells 1, 2, 3 are background.
MAP0 = [[9., 1., 5.], [2., 8., 3.], [7., 4., 6.]]
FG0 = [[True, False, True], [False, True, False], [True, True, True]]
# Image 1: mean 76.5 / 9 = 8.5, squared deviations 7 * 1.5^2 + 8.5^2 + 2^2
# = 15.75 + 72.25 + 4 = 92, population std sqrt(92 / 9) = 3.1972, threshold
# 8.5 - 0.6 * 3.1972 = 6.5817: 0 and 6.5 are background. (The sample std,
# sqrt(92 / 8) = 3.3912, would give 6.4653 and keep 6.5: the map tells the
# documented population std apart.)
MAP1 = [[10., 10., 10.], [10., 0., 10.], [10., 10., 6.5]]
FG1 = [[True, True, True], [True, False, True], [True, True, False]]


def test_hand_computed_thresholds():
    for values, fg in ((MAP0, FG0), (MAP1, FG1)):
        flat = [v for row in values for v in row]
        mean = sum(flat) / 9
        std = math.sqrt(sum((v - mean)**2 for v in flat) / 9)
        assert [[v >= mean - 0.6 * std for v in row]
                for row in values] == fg
    assert 5 - 0.6 * math.sqrt(60 / 9) == pytest.approx(3.4508, abs=1e-4)
    assert 8.5 - 0.6 * math.sqrt(92 / 9) == pytest.approx(6.5817, abs=1e-4)


def test_scda_foreground_hand_built_batch_summed_over_channels():
    act = torch.tensor([MAP0, MAP1])  # (2, 3, 3)
    # split each map over D = 3 channels with integer parts of both signs:
    # no single channel gives the answer, their sum does (exactly)
    g = torch.Generator().manual_seed(0)
    c0 = torch.randint(-20, 20, act.shape, generator=g).float()
    c1 = torch.randint(-20, 20, act.shape, generator=g).float()
    features = torch.stack([c0, c1, act - c0 - c1], 1)  # (2, 3, 3, 3)
    assert torch.equal(features.sum(1), act)
    fg = scda_foreground(features)
    assert fg.dtype == torch.bool and fg.shape == (2, 3, 3)
    assert fg.tolist() == [FG0, FG1]
    # per image: each image's result is that of the image alone
    assert fg[1].tolist() == scda_foreground(features[1:]).tolist()[0]
    for i in range(3):
        assert scda_foreground(features[:, i:i + 1]).tolist() != [FG0, FG1]
    # std_factor 0 is the original SCDA: the mean (5 >= 5 is foreground)
    assert scda_foreground(features[:1], std_factor=0.).tolist()[0] == [
        [True, False, True], [False, True, False], [True, False, True]]


# ---------------------------------------------------------------- grids --

@pytest.mark.parametrize('size, grid', [(224, (7, 7)), (96, (3, 3)),
                                        (100, (4, 4)), (32, (1, 1)),
                                        ((224, 100), (7, 4))])
def test_cell_grid(size, grid):
    size = size if isinstance(size, tuple) else (size, size)
    assert cell_grid(size, 32) == grid


def test_cell_grid_refuses_inputs_smaller_than_one_cell():
    with pytest.raises(ValueError, match=r'input size 16x16 .*32x32'):
        cell_grid((16, 16), 32)
    with pytest.raises(ValueError, match=r'input size 224x16'):
        cell_grid((224, 16), 32)


def test_cells_to_pixels_224_is_32px_blocks():
    ids = torch.arange(2 * 49).reshape(2, 7, 7)
    pixels = cells_to_pixels(ids, (224, 224))
    assert pixels.shape == (2, 224, 224)
    blocks = ids.repeat_interleave(32, 1).repeat_interleave(32, 2)
    assert torch.equal(pixels, blocks)


def test_cells_to_pixels_100_is_25px_blocks():
    ids = torch.arange(16).reshape(4, 4)
    pixels = cells_to_pixels(ids, (100, 100))
    assert pixels.shape == (100, 100)
    assert torch.equal(
        pixels, ids.repeat_interleave(25, 0).repeat_interleave(25, 1))
    # every pixel in exactly one cell, every cell 25 x 25 pixels
    assert torch.equal(pixels.flatten().bincount(minlength=16),
                       torch.full((16, ), 625))


# ------------------------------------------------------- SCDASaliency --

def test_registered_and_momentum_source_is_scda_of_features():
    sal = MODELS.build(dict(type='SCDASaliency', source='momentum'))
    assert isinstance(sal, SCDASaliency) and sal.network is None
    assert list(sal.parameters()) == []
    feats = torch.randn(3, 16, 7, 7)
    out = sal(features=feats)
    assert out.dtype == torch.bool and out.shape == (3, 7, 7)
    assert torch.equal(out, scda_foreground(feats, 0.6))
    # imgs, when given, check the grid
    assert torch.equal(sal(torch.zeros(3, 3, 224, 224), feats), out)
    with pytest.raises(ValueError, match=r'7x7 grid for 100x100.*4x4'):
        sal(torch.zeros(3, 3, 100, 100), feats)
    with pytest.raises(ValueError, match='needs features'):
        sal(torch.zeros(3, 3, 224, 224))
    sal = SCDASaliency(source='momentum', std_factor=0.)
    assert torch.equal(sal(features=feats), scda_foreground(feats, 0.))


def test_pretrained_source_random_tiny_resnet():
    torch.manual_seed(0)
    sal = _random()
    sal.init_weights()
    imgs = torch.randn(2, 3, 64, 64, requires_grad=True)
    grad_enabled = []
    sal.network.register_forward_hook(
        lambda *_: grad_enabled.append(torch.is_grad_enabled()))
    out = sal(imgs)
    assert out.shape == (2, 2, 2) and out.dtype == torch.bool
    assert grad_enabled == [False] and not out.requires_grad
    with torch.no_grad():
        expected = scda_foreground(sal.network(imgs)[-1])
    assert torch.equal(out, expected)
    # frozen: no parameter takes a gradient
    assert all(not p.requires_grad for p in sal.parameters())
    assert len(list(sal.parameters())) > 0
    # always in eval mode, even when the parent model calls .train()
    parent = nn.Sequential(nn.Linear(2, 2), sal)
    parent.train()
    assert sal.training and parent[0].training
    assert not any(m.training for m in sal.network.modules())
    bn_stats = sal.network.norm1.running_mean.clone()
    sal(torch.randn(2, 3, 64, 64) * 5 + 3)
    assert torch.equal(sal.network.norm1.running_mean, bn_stats)
    # 100 px: the network rounds up to ceil(100 / 32) = 4
    assert sal(torch.randn(1, 3, 100, 100)).shape == (1, 4, 4)


def test_input_smaller_than_one_cell_names_its_size():
    sal = _random()
    with pytest.raises(ValueError, match=r'\(2, 3, 16, 16\).*16x16'):
        sal(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match='16x16'):
        SCDASaliency(source='momentum')(torch.zeros(2, 3, 16, 16),
                                        torch.zeros(2, 4, 1, 1))


def test_network_of_another_stride_is_refused():
    sal = SCDASaliency(source='pretrained', allow_random=True,
                       network=dict(type='ResNet', depth=18,
                                    out_indices=(2, ), **TINY))
    with pytest.raises(ValueError, match=r'4x4 grid for 64x64.*2x2'):
        sal(torch.zeros(1, 3, 64, 64))


class _Parent(BaseModule):

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(4, 2)
        self.head_norm = nn.BatchNorm1d(2)
        self.saliency = _random()


@pytest.mark.parametrize('paramwise', [False, True])
def test_optimizer_never_changes_the_network(paramwise):
    """Without ``paramwise_cfg`` mmengine hands ``model.parameters()`` to
    the optimizer, frozen ones included; they never get a ``.grad`` and SGD
    skips them (no step, no weight decay, no momentum state). With a
    ``paramwise_cfg`` the constructor leaves them out."""
    torch.manual_seed(0)
    model = _Parent()
    model.init_weights()
    cfg = dict(optimizer=dict(type='SGD', lr=1.0, momentum=0.9,
                              weight_decay=0.1))
    if paramwise:
        cfg['paramwise_cfg'] = dict(norm_decay_mult=0.)
    wrapper = build_optim_wrapper(model, cfg)
    held = {id(p) for g in wrapper.optimizer.param_groups
            for p in g['params']}
    frozen = list(model.saliency.parameters())
    assert {id(p) for p in model.head.parameters()} <= held
    if paramwise:
        assert not held & {id(p) for p in frozen}
    else:
        assert {id(p) for p in frozen} <= held
    before = {k: v.clone() for k, v in model.saliency.state_dict().items()}
    model.train()
    for _ in range(2):
        fg = model.saliency(torch.randn(2, 3, 64, 64))
        x = fg.flatten(1).float()
        loss = model.head_norm(model.head(x)).pow(2).sum()
        wrapper.update_params(loss)
    after = model.saliency.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in frozen)
    assert not any(id(p) in {id(q) for q in wrapper.optimizer.state}
                   for p in frozen)
    assert len(wrapper.optimizer.state) > 0  # the head did step


# --------------------------------------------------------- checkpoints --

def _tiny_resnet(depth: int = 18) -> nn.Module:
    torch.manual_seed(depth)
    net = MODELS.build(_net(depth))
    net.init_weights()
    return net


def test_checkpoint_of_mmpretrain_classifier_loads_and_verifies(tmp_path):
    src = _tiny_resnet()
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['head.fc.weight'] = torch.randn(10, 64)
    path = str(tmp_path / 'resnet18_in1k.pth')
    torch.save({'state_dict': state, 'meta': {}}, path)
    sal = MODELS.build(dict(
        type='SCDASaliency', network=_net(18, dict(
            type='Pretrained', checkpoint=path, prefix='backbone.'))))
    sal.init_weights()  # checks, loads and verifies
    for k, v in src.state_dict().items():
        assert torch.equal(sal.network.state_dict()[k], v), k
    assert all(not p.requires_grad for p in sal.parameters())
    assert not sal.network.training


def test_torchvision_style_file_with_classifier_loads(tmp_path):
    src = _tiny_resnet()
    state = dict(src.state_dict(), **{'fc.weight': torch.randn(10, 64),
                                      'fc.bias': torch.randn(10)})
    path = str(tmp_path / 'resnet18_tv.pth')
    torch.save(state, path)
    sal = _pretrained(path)
    sal.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(sal.network.state_dict()[k], v), k
    # the same file with the classifier not allowed: its keys are named
    with pytest.raises(ValueError, match=r'fc\.bias, fc\.weight'):
        _pretrained(path, allow_unexpected=()).init_weights()


def test_checkpoint_loads_through_the_parent_model(tmp_path):
    src = _tiny_resnet()
    path = str(tmp_path / 'r18.pth')
    torch.save(src.state_dict(), path)

    class Parent(BaseModule):

        def __init__(self):
            super().__init__(init_cfg=dict(type='Kaiming', layer='Conv2d'))
            self.saliency = _pretrained(path)

    model = Parent()
    model.init_weights()  # the parent's Kaiming init runs first
    for k, v in src.state_dict().items():
        assert torch.equal(model.saliency.network.state_dict()[k], v), k


def test_missing_checkpoint_names_key_and_file(tmp_path):
    path = str(tmp_path / 'nowhere' / 'resnet50.pth')
    with pytest.raises(FileNotFoundError) as err:
        _pretrained(path).init_weights()
    msg = str(err.value)
    assert KEY in msg and path in msg and 'no such file' in msg
    assert 'ResNet, depth 18' in msg


def test_checkpoint_of_another_network_names_key_and_file(tmp_path):
    # (tiny) ResNet-50 weights into a ResNet-18: Bottleneck keys
    path = str(tmp_path / 'r50.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               _tiny_resnet(50).state_dict().items()}}, path)
    with pytest.raises(ValueError) as err:
        _pretrained(path, prefix='backbone.').init_weights()
    msg = str(err.value)
    assert KEY in msg and path in msg and 'does not fit' in msg
    assert 'model.saliency.network (ResNet)' in msg
    # a random state dict with wrong keys
    path = str(tmp_path / 'junk.pth')
    torch.save({'foo.weight': torch.randn(3, 3)}, path)
    with pytest.raises(ValueError) as err:
        _pretrained(path).init_weights()
    msg = str(err.value)
    assert KEY in msg and path in msg and 'missing' in msg
    assert 'foo.weight' in msg
    # the scope names the module's place in another model
    with pytest.raises(ValueError,
                       match=r'model\.head\.scda\.network\.init_cfg'):
        _pretrained(path, scope='head.scda').init_weights()


def test_empty_checkpoint_names_key_and_file(tmp_path):
    path = str(tmp_path / 'empty.pth')
    torch.save({'state_dict': {}}, path)
    with pytest.raises(ValueError) as err:
        _pretrained(path).init_weights()
    msg = str(err.value)
    assert KEY in msg and path in msg
    # an empty file is no checkpoint either; allow_random does not excuse
    # a named file that does not fit
    path = str(tmp_path / 'zero.pth')
    open(path, 'wb').close()
    with pytest.raises(ValueError) as err:
        _pretrained(path, allow_random=True).init_weights()
    assert KEY in str(err.value) and path in str(err.value)


@pytest.mark.parametrize('init_cfg', [
    None,
    dict(type='Pretrained', checkpoint=''),
    dict(type='Pretrained', checkpoint=None),
    [dict(type='Kaiming', layer='Conv2d')],
])
def test_pretrained_source_without_checkpoint(init_cfg):
    with pytest.raises(ValueError) as err:
        SCDASaliency(source='pretrained', network=_net(18, init_cfg))
    msg = str(err.value)
    assert 'model.saliency.network.init_cfg' in msg
    assert 'allow_random=True' in msg
    sal = SCDASaliency(source='pretrained', network=_net(18, init_cfg),
                       allow_random=True)
    sal.init_weights()  # random, nothing loaded
    assert sal(torch.zeros(1, 3, 64, 64)).shape == (1, 2, 2)


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"source='moco'"):
        SCDASaliency(source='moco')
    with pytest.raises(ValueError, match='network is set'):
        SCDASaliency(source='momentum', network=_net())
    with pytest.raises(ValueError, match='needs model.saliency.network'):
        SCDASaliency(source='pretrained')
    with pytest.raises(ValueError, match='std_factor=-0.6'):
        SCDASaliency(source='momentum', std_factor=-0.6)
    with pytest.raises(ValueError, match="stride='32'"):
        SCDASaliency(source='momentum', stride='32')
    with pytest.raises(ValueError, match='no features'):
        _random()(torch.zeros(1, 3, 64, 64), torch.zeros(1, 8, 2, 2))



def test_weights_that_did_not_load_are_caught(tmp_path, monkeypatch):
    """verify_pretrained after init_weights: a loader that silently loads
    nothing (mmengine's Pretrained init is ``strict=False``) is an error."""
    from mmengine.model.weight_init import PretrainedInit
    path = str(tmp_path / 'r18.pth')
    torch.save(_tiny_resnet().state_dict(), path)
    monkeypatch.setattr(PretrainedInit, '__call__', lambda self, module: None)
    with pytest.raises(RuntimeError) as err:
        _pretrained(path).init_weights()
    msg = str(err.value)
    assert KEY in msg and path in msg and 'differ' in msg
