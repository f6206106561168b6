"""Checkpoints of a diverged run (NaN/inf tensors) are refused by the
converters and the kNN evaluation; a converter never writes over its input
without ``--force``; converter outputs get the mode the umask gives."""
import os
import re
import shutil
import stat
from pathlib import Path
from typing import List, Tuple

import pytest
import torch
from mmengine.config import Config

from maskssl.checkpoint import (check_output_path, first_non_finite,
                                read_checkpoint)
from maskssl.evaluation import knn_evaluate_config
# the converter tests' tool loader and checkpoint fixtures
from test_tools.test_model_converters import (  # noqa: F401
    load_tool, resnet, vit_file)

NAN, INF = float('nan'), float('inf')
TOOLS = ['extract_backbone_weights', 'to_torchvision', 'to_detectron2',
         'to_timm', 'publish_model']


def tool_input(tool: str, resnet: dict, vit_file: str) -> str:
    """A raw training checkpoint that ``tool`` converts (a ViT for to_timm,
    a ResNet-18 for the others)."""
    return vit_file if tool == 'to_timm' else resnet[18][1]


def tool_output(tool: str, tmp_path: Path) -> Path:
    """The DST argument of ``tool`` (detectron2 wants ``.pkl``)."""
    return tmp_path / ('out.pkl' if tool == 'to_detectron2' else 'out.pth')


def write_diverged(src: str, dst: Path) -> Tuple[str, int]:
    """Copy checkpoint ``src`` to ``dst`` with NaN, +inf and -inf in its last
    floating ``backbone.*`` tensor (all before it stay finite).

    Returns:
        tuple: That tensor's name and size.
    """
    ckpt = torch.load(src, weights_only=True)
    name = [k for k, v in ckpt['state_dict'].items()
            if k.startswith('backbone.') and v.is_floating_point()][-1]
    tensor = ckpt['state_dict'][name]
    tensor.view(-1)[:3] = torch.tensor([NAN, INF, -INF])
    torch.save(ckpt, dst)
    return name, tensor.numel()


@pytest.mark.parametrize('value', [NAN, INF, -INF])
def test_first_non_finite(value):
    state = {'step': torch.tensor(7),  # integer and bool tensors: skipped
             'mask': torch.tensor([True, False]),
             'z.weight': torch.ones(3, 4),
             'a.weight': torch.ones(2, 5),
             'b.half': torch.ones(4, dtype=torch.float16)}
    assert first_non_finite(state) is None
    state['b.half'][1] = value
    assert first_non_finite(state) == ('b.half', 1)
    state['a.weight'][1, 2:] = value
    assert first_non_finite(state) == ('a.weight', 3)
    state['z.weight'][0, 0] = value  # first in the dict's order, not sorted
    assert first_non_finite(state) == ('z.weight', 1)
    assert first_non_finite({}) is None


def test_read_checkpoint_refuses_non_finite(resnet, tmp_path):
    src = tmp_path / 'epoch_2.pth'
    name, numel = write_diverged(resnet[18][1], src)
    assert name.startswith('backbone.layer4.')
    with pytest.raises(ValueError) as exc:
        read_checkpoint(str(src))
    assert str(exc.value) == (
        f'{src}: tensor "{name}" has 3 NaN/inf values of {numel}; the run '
        'that wrote this checkpoint diverged: use an earlier checkpoint')
    state = read_checkpoint(str(src), allow_non_finite=True)['state_dict']
    assert state[name].isnan().sum() == 1 and state[name].isinf().sum() == 2
    read_checkpoint(resnet[18][1])  # finite: read


def test_check_output_path(tmp_path):
    src, other = tmp_path / 'a.pth', tmp_path / 'b.pth'
    src.write_bytes(b'a')
    check_output_path(str(src), str(other))  # dst does not exist yet
    other.write_bytes(b'a')  # same bytes, another file
    check_output_path(str(src), str(other))
    check_output_path(str(tmp_path / 'none'), str(src))  # no src
    spelled = f'{tmp_path}/./../{tmp_path.name}/a.pth'
    with pytest.raises(ValueError, match=re.escape(
            f'the output "{spelled}" is the same file as the input "{src}"; '
            'give a different output path, or --force to overwrite it')):
        check_output_path(str(src), spelled)
    check_output_path(str(src), spelled, force=True)


@pytest.mark.parametrize('tool', TOOLS)
def test_converters_refuse_non_finite(tool, resnet, vit_file, tmp_path):
    src = tmp_path / 'epoch_2.pth'
    name, _ = write_diverged(tool_input(tool, resnet, vit_file), src)
    for force in ([], ['--force']):  # --force is about DST only
        with pytest.raises(SystemExit) as exc:
            load_tool(tool).main(
                [str(src), str(tool_output(tool, tmp_path))] + force)
        assert exc.value.code.startswith(
            f'error: {src}: tensor "{name}" has 3 NaN/inf values of ')
        assert exc.value.code.endswith('diverged: use an earlier checkpoint')
    assert list(tmp_path.iterdir()) == [src]


def output_onto_input(tool: str, kind: str, checkpoint: str,
                      tmp_path: Path) -> Tuple[List[str], Path, Path]:
    """Arguments that make ``tool`` write its output onto its input SRC
    (``kind='same'``) or onto a hard link or a symlink to SRC.

    Returns:
        tuple: The argument list, SRC and the output file.
    """
    if tool == 'publish_model':
        # publishing a published file gives the same bytes: the same name
        load_tool(tool).main([checkpoint, str(tmp_path / 'p')])
        (out, ) = tmp_path.iterdir()
        dst = str(tmp_path / 'p')
    else:
        out = tool_output(tool, tmp_path)
        shutil.copy(checkpoint, out)
        dst = str(out)
    src = out
    if kind != 'same':
        src = out.rename(tmp_path / 'in.pth')
        (os.link if kind == 'hardlink' else os.symlink)(src, out)
    return [str(src), dst], src, out


@pytest.mark.parametrize('kind', ['same', 'hardlink', 'symlink'])
@pytest.mark.parametrize('tool', TOOLS)
def test_converters_refuse_output_onto_input(tool, kind, resnet, vit_file,
                                             tmp_path):
    argv, src, out = output_onto_input(
        tool, kind, tool_input(tool, resnet, vit_file), tmp_path)
    before = src.read_bytes()
    files = sorted(tmp_path.iterdir())
    with pytest.raises(SystemExit) as exc:
        load_tool(tool).main(argv)
    assert exc.value.code == (
        f'error: the output "{out}" is the same file as the input "{src}"; '
        'give a different output path, or --force to overwrite it')
    assert src.read_bytes() == before and sorted(tmp_path.iterdir()) == files
    load_tool(tool).main(argv + ['--force'])
    assert sorted(tmp_path.iterdir()) == files  # no temporary file left
    assert out.is_file() and not out.is_symlink()
    if kind == 'same':  # converted in place (publishing again: same bytes)
        assert (out.read_bytes() == before) == (tool == 'publish_model')
    else:  # the link was replaced; the input it pointed to is intact
        assert src.read_bytes() == before
        assert os.stat(out).st_nlink == 1 and not os.path.samefile(src, out)


@pytest.mark.parametrize('umask, mode', [(0o022, 0o644), (0o077, 0o600),
                                         (0o002, 0o664)],
                         ids=['umask022', 'umask077', 'umask002'])
@pytest.mark.parametrize('tool', TOOLS)
def test_converter_output_mode(tool, umask, mode, resnet, vit_file,
                               tmp_path):
    old = os.umask(umask)
    try:
        load_tool(tool).main([tool_input(tool, resnet, vit_file),
                              str(tool_output(tool, tmp_path))])
    finally:
        os.umask(old)
    (out, ) = tmp_path.iterdir()
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_knn_refuses_non_finite(resnet, toy_root, tmp_path):
    """What ``tools/benchmarks/knn_eval.py CONFIG CHECKPOINT`` runs."""
    src = tmp_path / 'epoch_2.pth'
    name, _ = write_diverged(resnet[18][1], src)
    cfg = Config(dict(model=dict(backbone=dict(type='ResNet', depth=18))))
    with pytest.raises(ValueError, match=re.escape(
            f'{src}: tensor "{name}" has 3 NaN/inf values of ')):
        knn_evaluate_config(cfg, str(src), toy_root, img_size=32, ks=(5, ),
                            batch_size=16, num_workers=0)
