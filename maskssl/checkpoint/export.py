"""Key maps and checks behind ``tools/model_converters``.

Every function takes and returns plain state dicts (name -> tensor); reading
and writing files is left to the tools. Problems raise ``ValueError`` whose
message names the checkpoint file and what was expected.
"""
import os.path as osp
import re
from typing import Any, Dict, List, Optional

import torch

State = Dict[str, torch.Tensor]

# (block type, blocks per stage) -> torchvision ResNet depth
RESNET_DEPTHS = {
    ('BasicBlock', (2, 2, 2, 2)): 18,
    ('BasicBlock', (3, 4, 6, 3)): 34,
    ('Bottleneck', (3, 4, 6, 3)): 50,
    ('Bottleneck', (3, 4, 23, 3)): 101,
    ('Bottleneck', (3, 8, 36, 3)): 152,
}

# mmpretrain VisionTransformer -> timm VisionTransformer, outside the blocks
# (``ln1`` is the final norm, ``ln2`` the norm after average pooling)
VIT_TOP_KEYS = {
    'cls_token': 'cls_token',
    'pos_embed': 'pos_embed',
    'patch_embed.projection': 'patch_embed.proj',
    'pre_norm': 'norm_pre',
    'ln1': 'norm',
    'ln2': 'fc_norm',
}
# ... and inside ``layers.{i}`` -> ``blocks.{i}``
VIT_BLOCK_KEYS = {
    'ln1': 'norm1',
    'attn.qkv': 'attn.qkv',
    'attn.proj': 'attn.proj',
    'attn.gamma1.weight': 'ls1.gamma',
    'ln2': 'norm2',
    'ffn.layers.0.0': 'mlp.fc1',
    'ffn.layers.1': 'mlp.fc2',
    'ffn.gamma2.weight': 'ls2.gamma',
}
VIT_REQUIRED_KEYS = ('patch_embed.projection.weight',
                     'layers.0.attn.qkv.weight')


def _sample(keys, n: int = 5) -> List[str]:
    """The first ``n`` of ``keys``, sorted, for error messages."""
    return sorted(keys)[:n]


def extract_backbone(ckpt: Dict[str, Any], filename: str,
                     prefix: str = 'backbone.') -> Dict[str, Any]:
    """The online backbone of a raw training checkpoint.

    Args:
        ckpt: A checkpoint as returned by ``read_checkpoint``.
        filename: Its file, for error messages and ``meta``.
        prefix: The backbone's prefix in ``ckpt['state_dict']``.

    Returns:
        dict: ``{'meta': ..., 'state_dict': ...}`` with the ``prefix*``
        tensors, prefix stripped (momentum copies such as
        ``target_net.module.0.*`` are not ``prefix*`` keys and are left out);
        ``meta`` is the checkpoint's, plus ``extracted_from`` (the file's
        basename) and ``extracted_prefix``.
    """
    state = ckpt['state_dict']
    backbone = {k[len(prefix):]: v for k, v in state.items()
                if k.startswith(prefix)}
    if not backbone:
        raise ValueError(
            f'{filename}: no "{prefix}*" keys; expected a raw maskssl/'
            f'mmpretrain training checkpoint (keys like "{prefix}conv1.weight"'
            f'), found {_sample(state)}')
    meta = dict(ckpt.get('meta') or {})
    meta.update(extracted_from=osp.basename(filename),
                extracted_prefix=prefix)
    return {'meta': meta, 'state_dict': backbone}


def resnet_depth(state: State, filename: str) -> int:
    """The torchvision ResNet depth (18/34/50/101/152) that the keys of
    ``state`` describe: the block type from ``layer1.0.conv3`` and the
    number of blocks of each stage ``layer{1-4}``."""
    if 'layer1.0.conv1.weight' not in state:
        raise ValueError(
            f'{filename}: not a torchvision-style ResNet backbone: no '
            f'"layer1.0.conv1.weight" key (found {_sample(state)})')
    block = ('Bottleneck' if 'layer1.0.conv3.weight' in state
             else 'BasicBlock')
    stages = tuple(
        len({k.split('.')[1] for k in state if k.startswith(f'layer{s}.')})
        for s in (1, 2, 3, 4))
    if (block, stages) not in RESNET_DEPTHS:
        raise ValueError(
            f'{filename}: {block} blocks per stage {stages} match no '
            'torchvision ResNet (expected one of '
            f'{sorted(RESNET_DEPTHS.values())})')
    return RESNET_DEPTHS[(block, stages)]


def check_torchvision_resnet(state: State, filename: str) -> int:
    """Check that ``state`` holds exactly the tensors of a torchvision
    ``resnet{depth}`` without its ``fc`` head, with the same shapes.

    Returns:
        int: The depth.
    """
    import torchvision  # slow to import; only the ResNet converters need it
    depth = resnet_depth(state, filename)
    with torch.device('meta'):
        model = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    expected = {k: v.shape for k, v in model.state_dict().items()
                if not k.startswith('fc.')}
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    wrong = sorted(k for k in set(state) & set(expected)
                   if state[k].shape != expected[k])
    if missing or unexpected or wrong:
        raise ValueError(
            f'{filename}: not a torchvision resnet{depth} backbone: '
            f'{len(missing)} missing keys {_sample(missing, 3)}, '
            f'{len(unexpected)} unexpected keys {_sample(unexpected, 3)}, '
            f'{len(wrong)} wrong shapes '
            + str([f'{k}: {tuple(state[k].shape)} != {tuple(expected[k])}'
                   for k in wrong[:3]]))
    return depth


def torchvision_to_detectron2_key(key: str) -> str:
    """A torchvision ResNet key -> its detectron2 name, e.g.
    ``bn1.weight`` -> ``stem.conv1.norm.weight``,
    ``layer1.0.downsample.1.running_var`` ->
    ``res2.0.shortcut.norm.running_var``."""
    match = re.match(r'layer(\d)\.(.*)', key)
    key = (f'res{int(match[1]) + 1}.{match[2]}' if match else f'stem.{key}')
    key = re.sub(r'\.bn(\d)\.', r'.conv\1.norm.', key)
    key = key.replace('.downsample.0.', '.shortcut.')
    return key.replace('.downsample.1.', '.shortcut.norm.')


def detectron2_to_torchvision_key(key: str) -> str:
    """The inverse of :func:`torchvision_to_detectron2_key`."""
    match = re.match(r'res(\d)\.(.*)', key)
    key = (f'layer{int(match[1]) - 1}.{match[2]}' if match
           else key.removeprefix('stem.'))
    key = key.replace('shortcut.norm.', 'downsample.1.')
    key = key.replace('shortcut.', 'downsample.0.')
    return re.sub(r'(^|\.)conv(\d)\.norm\.', r'\1bn\2.', key)


def resnet_to_detectron2(state: State, filename: str) -> Dict[str, Any]:
    """A torchvision-style ResNet state dict -> a detectron2 weights dict
    ``{'model': {name: numpy array}, '__author__': 'maskssl',
    'matching_heuristics': True}``, without ``num_batches_tracked``."""
    check_torchvision_resnet(state, filename)
    model = {torchvision_to_detectron2_key(k): v.detach().cpu().numpy()
             for k, v in state.items()
             if not k.endswith('num_batches_tracked')}
    return {'model': model, '__author__': 'maskssl',
            'matching_heuristics': True}


def _map_vit_key(key: str, top: Dict[str, str], block: Dict[str, str],
                 src: str, dst: str) -> Optional[str]:
    """Rename ``key`` by the longest-matching entry of ``top`` (or of
    ``block`` after the ``{src}.{i}.`` prefix, which becomes
    ``{dst}.{i}.``); None when no entry matches."""
    match = re.match(rf'{src}\.(\d+)\.(.*)', key)
    head, rest, table = ((f'{dst}.{match[1]}.', match[2], block) if match
                         else ('', key, top))
    for old in sorted(table, key=len, reverse=True):
        if rest == old or rest.startswith(old + '.'):
            return head + table[old] + rest[len(old):]
    return None


def vit_to_timm_key(key: str) -> Optional[str]:
    """An mmpretrain ``VisionTransformer`` key -> its timm
    ``VisionTransformer`` name (None when timm has no equivalent), e.g.
    ``layers.3.ffn.layers.0.0.weight`` -> ``blocks.3.mlp.fc1.weight``."""
    return _map_vit_key(key, VIT_TOP_KEYS, VIT_BLOCK_KEYS, 'layers', 'blocks')


def timm_to_vit_key(key: str) -> Optional[str]:
    """The inverse of :func:`vit_to_timm_key`."""
    return _map_vit_key(key, {v: k for k, v in VIT_TOP_KEYS.items()},
                        {v: k for k, v in VIT_BLOCK_KEYS.items()}, 'blocks',
                        'layers')


def vit_to_timm(state: State, filename: str) -> State:
    """An mmpretrain ``VisionTransformer`` (or ``MAEViT``) state dict -> the
    same tensors under timm ``VisionTransformer`` names."""
    absent = [k for k in VIT_REQUIRED_KEYS if k not in state]
    if absent:
        raise ValueError(
            f'{filename}: not an mmpretrain VisionTransformer backbone: no '
            f'{absent} keys (found {_sample(state)})')
    renamed = {k: vit_to_timm_key(k) for k in state}
    unknown = [k for k, v in renamed.items() if v is None]
    if unknown:
        raise ValueError(
            f'{filename}: {len(unknown)} keys have no timm VisionTransformer '
            f'equivalent: {_sample(unknown)}')
    return {renamed[k]: v for k, v in state.items()}


def publish_checkpoint(ckpt: Dict[str, Any]) -> Dict[str, Any]:
    """``ckpt`` with only its ``meta`` (if any) and ``state_dict``: the
    optimizer, parameter schedulers, message hub ... are dropped."""
    return {k: ckpt[k] for k in ('meta', 'state_dict') if k in ckpt}


def published_name(out_name: str, sha256: str, date: str) -> str:
    """``{out_name without .pth}_{date}-{sha256[:8]}.pth``, as mmpretrain's
    ``publish_model.py`` names files."""
    stem = out_name[:-len('.pth')] if out_name.endswith('.pth') else out_name
    return f'{stem}_{date}-{sha256[:8]}.pth'
