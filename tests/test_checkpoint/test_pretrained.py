"""Downstream models take every backbone tensor (and the C4 shared head's
layer4) from a maskssl checkpoint, raw or extracted, and refuse a checkpoint
that does not fit with an error naming the file and the mismatch."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, DefaultScope
from mmpretrain.models import ResNet, VisionTransformer

from conftest import REPO, pretrained_check_args, set_pretrained_checkpoint
from maskssl.checkpoint import read_checkpoint
from maskssl.checkpoint.export import extract_backbone
from maskssl.checkpoint.pretrained import check_pretrained, verify_pretrained

BENCH = osp.join(REPO, 'configs', 'benchmarks')
C4 = osp.join(BENCH, 'mmdetection', 'mask-rcnn_r50-c4_8xb2-ms-1x_coco.py')
RESNET_CONFIGS = {
    'c4': C4,
    'c4-voc': osp.join(BENCH, 'mmdetection',
                       'faster-rcnn_r50-c4_8xb2-ms-24k_voc0712.py'),
    'fpn': osp.join(BENCH, 'mmdetection', 'mask-rcnn_r50_fpn_8xb2-ms-1x_coco.py'),
    'upernet': osp.join(BENCH, 'mmsegmentation',
                        'upernet_r50_4xb4-160k_ade20k-512x512.py'),
    'linear': osp.join(BENCH, 'classification',
                       'resnet50_8xb32-linear-steplr-100e_in1k.py'),
}


def _randomised(module: torch.nn.Module) -> dict:
    """The module's state with every float tensor drawn at random (so that a
    tensor left at its default can never equal the checkpoint's)."""
    torch.manual_seed(0)
    return {k: torch.randn_like(v) if v.is_floating_point() else v + 3
            for k, v in module.state_dict().items()}


@pytest.fixture(scope='module')
def resnet_ckpts(tmp_path_factory):
    """A raw MaskDeep-like training checkpoint of a ResNet-50 (online
    backbone next to a different momentum copy and a neck) and the file
    extract_backbone_weights makes of it."""
    root = tmp_path_factory.mktemp('ckpt')
    backbone = _randomised(ResNet(depth=50))
    state = {f'backbone.{k}': v for k, v in backbone.items()}
    state.update({f'target_net.module.0.{k}': v + 1
                  for k, v in backbone.items()})
    state['neck.lateral.weight'] = torch.zeros(4, 4)
    raw = str(root / 'epoch_1.pth')
    torch.save(dict(meta=dict(epoch=1), state_dict=state,
                    optimizer=dict(state={})), raw)
    extracted = str(root / 'backbone.pth')
    torch.save(extract_backbone(read_checkpoint(raw), raw), extracted)
    return backbone, raw, extracted


def _build(path: str, checkpoint: str):
    """The config's model with ``checkpoint`` in every Pretrained init_cfg,
    and the config's PretrainedCheckHook arguments."""
    cfg = Config.fromfile(path)
    set_pretrained_checkpoint(cfg.model, checkpoint)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
    return model, pretrained_check_args(cfg)


def _load(path: str, checkpoint: str):
    model, args = _build(path, checkpoint)
    loads = check_pretrained(model, **args)
    model.init_weights()
    return model, loads, verify_pretrained(loads)


@pytest.mark.parametrize('kind', ['raw', 'extracted'])
@pytest.mark.parametrize('name', list(RESNET_CONFIGS))
def test_every_backbone_tensor_loaded(name, kind, resnet_ckpts):
    backbone, raw, extracted = resnet_ckpts
    model, loads, count = _load(RESNET_CONFIGS[name],
                                raw if kind == 'raw' else extracted)
    # checked by hand, not through the loader's own bookkeeping
    own = model.backbone.state_dict()
    assert own, name
    for key, value in own.items():
        assert torch.equal(value, backbone[key]), key
    taken = set(own)
    if name.startswith('c4'):
        head = model.roi_head.shared_head.state_dict()
        for key, value in head.items():
            if key.startswith('norm.'):
                continue  # the protocol's extra norm starts fresh
            assert key.startswith('layer4.')
            assert torch.equal(value, backbone[key]), key
            taken.add(key)
        assert len(own) + len(head) - 5 == len(backbone)  # norm: 5 tensors
    # nothing of the checkpoint's backbone is left out
    assert taken == set(backbone)
    assert count == len(backbone)
    assert {load.name for load in loads} == (
        {'backbone', 'roi_head.shared_head'} if name.startswith('c4')
        else {'backbone'})


def test_missing_file_names_key_and_file(tmp_path):
    model, args = _build(RESNET_CONFIGS['fpn'], str(tmp_path / 'nope.pth'))
    with pytest.raises(FileNotFoundError,
                       match=r'model\.backbone\.init_cfg\.checkpoint.*nope\.pth'):
        check_pretrained(model, **args)


def test_empty_checkpoint_path_is_refused():
    model, args = _build(RESNET_CONFIGS['linear'], '')
    with pytest.raises(ValueError, match=r'model\.backbone\.init_cfg.*needs a '
                       'checkpoint'):
        check_pretrained(model, **args)


def test_checkpoint_without_backbone_keys(tmp_path, resnet_ckpts):
    backbone = resnet_ckpts[0]
    path = str(tmp_path / 'encoder.pth')
    torch.save({'state_dict': {f'encoder.{k}': v
                               for k, v in backbone.items()}}, path)
    model, args = _build(RESNET_CONFIGS['upernet'], path)
    with pytest.raises(ValueError) as err:
        check_pretrained(model, **args)
    message = str(err.value)
    assert 'encoder.pth' in message and 'no "backbone.*" keys' in message
    assert 'model.backbone (ResNet)' in message
    assert 'encoder.bn1.bias' in message


def test_vit_checkpoint_given_to_resnet_config(tmp_path):
    vit = _randomised(VisionTransformer(arch='deit-tiny'))
    path = str(tmp_path / 'mae_vit.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in vit.items()}},
               path)
    model, args = _build(C4, path)
    with pytest.raises(ValueError) as err:
        check_pretrained(model, **args)
    message = str(err.value)
    assert 'mae_vit.pth' in message and '(ResNet)' in message
    assert 'bn1.bias' in message and 'cls_token' in message


def test_c4_shared_head_left_out_is_an_error(resnet_ckpts):
    """A C4 model whose shared head does not load the checkpoint would leave
    layer4 random: the checkpoint's layer4 is then unexpected."""
    model, args = _build(C4, resnet_ckpts[1])
    model.roi_head.shared_head.init_cfg = None
    with pytest.raises(ValueError, match=r'layer4\..*would be dropped'):
        check_pretrained(model, **args)


def test_shape_mismatch_is_named(tmp_path, resnet_ckpts):
    state = dict(resnet_ckpts[0])
    state['conv1.weight'] = torch.zeros(64, 3, 3, 3)
    path = str(tmp_path / 'stem3x3.pth')
    torch.save(state, path)
    model, args = _build(RESNET_CONFIGS['linear'], path)
    with pytest.raises(ValueError, match=r'stem3x3\.pth.*another shape '
                       r'\(conv1\.weight\)'):
        check_pretrained(model, **args)


def test_verify_catches_a_tensor_that_did_not_load(resnet_ckpts):
    model, args = _build(RESNET_CONFIGS['linear'], resnet_ckpts[2])
    loads = check_pretrained(model, **args)
    model.init_weights()
    with torch.no_grad():
        model.backbone.layer2[0].conv1.weight.zero_()
    with pytest.raises(RuntimeError, match=r'model\.backbone: 1 tensors '
                       r'differ.*layer2\.0\.conv1\.weight'):
        verify_pretrained(loads)


def test_remote_checkpoint_goes_through_mmengine_loader(monkeypatch,
                                                        resnet_ckpts):
    """A URL / torchvision:// checkpoint is read with mmengine's loader (the
    one init_weights uses), not refused as a missing file."""
    from mmengine.runner.checkpoint import CheckpointLoader
    backbone = resnet_ckpts[0]
    asked = []

    def fake_load(filename, map_location=None, logger=None):
        asked.append(filename)
        return {'state_dict': {f'backbone.{k}': v
                               for k, v in backbone.items()}}

    monkeypatch.setattr(CheckpointLoader, 'load_checkpoint', fake_load)
    model, args = _build(RESNET_CONFIGS['linear'], 'https://x/ssl.pth')
    (load, ) = check_pretrained(model, **args)
    assert asked == ['https://x/ssl.pth']
    assert set(load.state) == set(backbone)
