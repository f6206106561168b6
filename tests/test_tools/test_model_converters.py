import hashlib
import importlib.util
import os.path as osp
import pickle
import re
import subprocess

import numpy as np
import pytest
import torch
import torchvision
from mmpretrain.models import MAEViT, ResNet, VisionTransformer

from conftest import PYTHON, REPO
from maskssl.checkpoint.export import (check_torchvision_resnet,
                                       detectron2_to_torchvision_key,
                                       timm_to_vit_key, vit_to_timm_key)

TOOLS = osp.join(REPO, 'tools/model_converters')
TINY_VIT = dict(embed_dims=32, num_layers=1, num_heads=2,
                feedforward_channels=64)


def load_tool(name: str):
    """The module of ``tools/model_converters/{name}.py``."""
    spec = importlib.util.spec_from_file_location(name, f'{TOOLS}/{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_state(model: torch.nn.Module) -> dict:
    """The state dict of ``model`` with every tensor replaced by random
    values (BN running stats and counters included)."""
    torch.manual_seed(0)
    return {k: (torch.rand_like(v) if v.is_floating_point()
                else torch.randint_like(v, 1, 100))
            for k, v in model.state_dict().items()}


def training_checkpoint(backbone: dict) -> dict:
    """A raw maskssl training checkpoint around ``backbone``, with a
    momentum copy holding different values."""
    state = {f'backbone.{k}': v for k, v in backbone.items()}
    state.update({f'target_net.module.0.{k}': v + 1
                  for k, v in backbone.items()})
    state.update({'neck.fc.weight': torch.ones(2, 2),
                  'target_net.steps': torch.tensor(5)})
    return {'meta': {'epoch': 3, 'seed': 1}, 'state_dict': state,
            'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]},
            'param_schedulers': [{'last_epoch': 3}],
            'message_hub': {'runtime_info': {'iter': 30}}}


@pytest.fixture(scope='module')
def resnet(tmp_path_factory) -> dict:
    """depth -> (backbone state, raw training checkpoint file)."""
    root = tmp_path_factory.mktemp('resnet')
    out = {}
    for depth in (18, 50):
        state = random_state(ResNet(depth))
        torch.save(training_checkpoint(state), root / f'r{depth}.pth')
        out[depth] = state, str(root / f'r{depth}.pth')
    return out


@pytest.fixture(scope='module')
def vit_file(tmp_path_factory) -> str:
    """A raw training checkpoint of a 1-block ViT."""
    filename = str(tmp_path_factory.mktemp('vit') / 'vit.pth')
    model = VisionTransformer(arch=TINY_VIT, img_size=32, patch_size=16)
    torch.save(training_checkpoint(random_state(model)), filename)
    return filename


def test_extract_backbone(resnet, tmp_path, capsys):
    state, src = resnet[50]
    load_tool('extract_backbone_weights').main([src, str(tmp_path / 'b.pth')])
    out = torch.load(tmp_path / 'b.pth', weights_only=True)
    assert set(out) == {'meta', 'state_dict'}
    assert out['meta'] == {'epoch': 3, 'seed': 1, 'extracted_from': 'r50.pth',
                           'extracted_prefix': 'backbone.'}
    assert out['state_dict'].keys() == state.keys()
    # equal to the online backbone, not to the momentum copy (+1)
    assert all(torch.equal(out['state_dict'][k], v) for k, v in state.items())
    assert f'wrote {len(state)} backbone tensors' in capsys.readouterr().out


@pytest.mark.parametrize('depth', [18, 50])
def test_to_torchvision(resnet, tmp_path, capsys, depth):
    state, src = resnet[depth]
    if depth == 18:  # an extracted backbone, no prefix
        src = str(tmp_path / 'extracted.pth')
        torch.save({'meta': {}, 'state_dict': state}, src)
    load_tool('to_torchvision').main([src, str(tmp_path / 'tv.pth')])
    out = torch.load(tmp_path / 'tv.pth', weights_only=True)
    model = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    result = model.load_state_dict(out, strict=False)
    assert result.missing_keys == ['fc.weight', 'fc.bias']
    assert result.unexpected_keys == []
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert (f'resnet{depth}: wrote {len(state)} tensors'
            in capsys.readouterr().out)


def test_to_detectron2(resnet, tmp_path):
    state, src = resnet[50]
    load_tool('to_detectron2').main([src, str(tmp_path / 'd2.pkl')])
    with open(tmp_path / 'd2.pkl', 'rb') as f:
        out = pickle.load(f)
    assert out['__author__'] == 'maskssl' and out['matching_heuristics']
    model = out['model']
    expected = {k: v for k, v in state.items()
                if not k.endswith('num_batches_tracked')}
    assert {detectron2_to_torchvision_key(k) for k in model} == set(expected)
    for key, value in model.items():
        assert isinstance(value, np.ndarray)
        np.testing.assert_array_equal(
            value, expected[detectron2_to_torchvision_key(key)].numpy())
    for d2_key, tv_key in [
            ('stem.conv1.weight', 'conv1.weight'),
            ('stem.conv1.norm.weight', 'bn1.weight'),
            ('res2.0.shortcut.weight', 'layer1.0.downsample.0.weight'),
            ('res2.0.shortcut.norm.running_var',
             'layer1.0.downsample.1.running_var'),
            ('res3.1.conv2.norm.bias', 'layer2.1.bn2.bias'),
            ('res5.2.conv3.weight', 'layer4.2.conv3.weight')]:
        np.testing.assert_array_equal(model[d2_key], state[tv_key].numpy())
    with pytest.raises(SystemExit):  # detectron2 unpickles only .pkl
        load_tool('to_detectron2').parse_args([src, 'd2.pth'])


def test_to_timm_key_list(tmp_path):
    model = VisionTransformer(arch=TINY_VIT, img_size=32, patch_size=16,
                              pre_norm=True, layer_scale_init_value=0.1)
    state = random_state(model)
    src = str(tmp_path / 'vit.pth')
    torch.save(training_checkpoint(state), src)
    load_tool('to_timm').main([src, str(tmp_path / 'timm.pth')])
    out = torch.load(tmp_path / 'timm.pth', weights_only=True)
    assert sorted(out) == sorted([
        'cls_token', 'pos_embed', 'patch_embed.proj.weight', 'norm_pre.weight',
        'norm_pre.bias', 'blocks.0.norm1.weight', 'blocks.0.norm1.bias',
        'blocks.0.attn.qkv.weight', 'blocks.0.attn.qkv.bias',
        'blocks.0.attn.proj.weight', 'blocks.0.attn.proj.bias',
        'blocks.0.ls1.gamma', 'blocks.0.norm2.weight', 'blocks.0.norm2.bias',
        'blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc1.bias',
        'blocks.0.mlp.fc2.weight', 'blocks.0.mlp.fc2.bias',
        'blocks.0.ls2.gamma', 'norm.weight', 'norm.bias'])
    assert all(torch.equal(out[k], state[timm_to_vit_key(k)]) for k in out)


@pytest.mark.parametrize('model', [
    VisionTransformer(arch='deit-tiny', img_size=32, patch_size=16),
    VisionTransformer(arch=TINY_VIT, img_size=32, final_norm=False,
                      out_type='avg_featmap', layer_scale_init_value=0.1),
    MAEViT(arch=dict(TINY_VIT, num_layers=12), img_size=32, patch_size=16)])
def test_timm_key_round_trip(model):
    keys = list(model.state_dict())
    timm_keys = [vit_to_timm_key(k) for k in keys]
    assert None not in timm_keys and len(set(timm_keys)) == len(keys)
    assert [timm_to_vit_key(k) for k in timm_keys] == keys
    assert vit_to_timm_key('layers.11.ffn.layers.1.weight') == \
        'blocks.11.mlp.fc2.weight'


def test_publish_model(resnet, tmp_path, capsys):
    state, src = resnet[18]
    load_tool('publish_model').main([src, str(tmp_path / 'maskdeep_r18.pth')])
    (final, ) = tmp_path.iterdir()
    match = re.fullmatch(r'maskdeep_r18_(\d{8})-([0-9a-f]{8})\.pth',
                         final.name)
    assert match
    assert hashlib.sha256(final.read_bytes()).hexdigest()[:8] == match[2]
    out = torch.load(final, weights_only=True)
    assert set(out) == {'meta', 'state_dict'}  # optimizer ... dropped
    assert out['meta'] == {'epoch': 3, 'seed': 1}
    assert all(torch.equal(out['state_dict'][f'backbone.{k}'], v)
               for k, v in state.items())
    assert f'wrote {len(out["state_dict"])} tensors to {final}' in \
        capsys.readouterr().out


@pytest.mark.parametrize('tool', [
    'extract_backbone_weights', 'to_torchvision', 'to_detectron2', 'to_timm',
    'publish_model'])
def test_missing_and_non_checkpoint_files(tool, tmp_path):
    main = load_tool(tool).main
    dst = str(tmp_path / 'out.pkl')
    for src, message in [(tmp_path / 'none.pth', 'does not exist'),
                         (tmp_path / 'junk.pth', 'not a PyTorch checkpoint')]:
        if src.name == 'junk.pth':
            src.write_bytes(np.random.default_rng(0).bytes(1000))
        with pytest.raises(SystemExit) as exc:
            main([str(src), dst])
        assert str(src) in exc.value.code and message in exc.value.code
    assert list(tmp_path.iterdir()) == [tmp_path / 'junk.pth']


@pytest.mark.parametrize('tool, checkpoint, message', [
    ('extract_backbone_weights', 'no_backbone',
     'no "backbone.*" keys; expected a raw maskssl/mmpretrain training'),
    ('to_torchvision', 'vit', 'not a torchvision-style ResNet backbone: no '
     '"layer1.0.conv1.weight" key'),
    ('to_detectron2', 'vit', 'not a torchvision-style ResNet backbone'),
    ('to_timm', 'resnet', "not an mmpretrain VisionTransformer backbone: no "
     "['patch_embed.projection.weight', 'layers.0.attn.qkv.weight'] keys")])
def test_wrong_architecture(tool, checkpoint, message, resnet, vit_file,
                            tmp_path):
    src = {'resnet': resnet[18][1], 'vit': vit_file,
           'no_backbone': str(tmp_path / 'encoder.pth')}[checkpoint]
    torch.save({'state_dict': {'encoder.x': torch.ones(1)}},
               tmp_path / 'encoder.pth')
    with pytest.raises(SystemExit) as exc:
        load_tool(tool).main([src, str(tmp_path / 'out.pkl')])
    assert exc.value.code.startswith(f'error: {src}: {message}')
    assert not osp.exists(tmp_path / 'out.pkl')


def test_check_torchvision_resnet(resnet):
    state = dict(resnet[18][0])
    assert check_torchvision_resnet(state, 'r18.pth') == 18
    del state['layer2.0.downsample.1.weight']
    state['layer1.0.conv1.weight'] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(ValueError, match=re.escape(
            "r18.pth: not a torchvision resnet18 backbone: 1 missing keys "
            "['layer2.0.downsample.1.weight'], 0 unexpected keys [], 1 wrong "
            "shapes ['layer1.0.conv1.weight: (64, 64, 1, 1) != "
            "(64, 64, 3, 3)']")):
        check_torchvision_resnet(state, 'r18.pth')
    state = {k: v for k, v in resnet[18][0].items()
             if not k.startswith('layer4.1.')}
    with pytest.raises(ValueError, match=re.escape(
            'r18.pth: BasicBlock blocks per stage (2, 2, 2, 1) match no '
            'torchvision ResNet')):
        check_torchvision_resnet(state, 'r18.pth')


@pytest.mark.slow
def test_extract_cli(resnet, tmp_path):
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'not a checkpoint')
    cmd = [PYTHON, f'{TOOLS}/extract_backbone_weights.py']
    procs = [subprocess.Popen(cmd + [src, str(tmp_path / f'{i}.pth')],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=REPO)
             for i, src in enumerate([resnet[18][1], str(junk)])]
    (ok_out, ok_err), (bad_out, bad_err) = [p.communicate() for p in procs]
    assert procs[0].returncode == 0, ok_err[-2000:]
    assert (f'wrote {len(resnet[18][0])} backbone tensors to {tmp_path}/0.pth'
            in ok_out)
    assert procs[1].returncode == 1
    assert bad_err.strip().startswith(f'error: {junk}: not a PyTorch '
                                      'checkpoint that loads with')
    assert not osp.exists(tmp_path / '1.pth')
