"""Strict checks on ``init_cfg=dict(type='Pretrained', ...)`` weights.

mmengine loads ``Pretrained`` weights with ``strict=False`` and only logs the
keys it could not place, so a checkpoint of another architecture, a wrong
prefix or a forgotten C4 shared head leaves layers silently random. It also
refuses an extracted backbone file (no ``backbone.`` keys) under
``prefix='backbone.'``. These functions run on the built model:

* :func:`check_pretrained` (before ``init_weights``) reads every checkpoint
  named by a ``Pretrained`` init_cfg, matches its tensors against the modules
  that load it and raises a clear error on any missing, unexpected or
  mis-shaped key; for an extracted backbone file it drops the prefix from the
  init_cfg, so one config takes a raw pretraining checkpoint and an extracted
  backbone alike.
* :func:`verify_pretrained` (after ``init_weights``) asserts that every
  loaded tensor equals the checkpoint tensor it came from.

Modules that share a checkpoint and prefix are matched together: the C4
backbone (stages 1-3) and the C4 shared head (``layer4``) together consume a
ResNet-50 checkpoint; a key neither of them takes is unexpected.
"""
import fnmatch
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from .io import read_checkpoint, select_prefix


@dataclass
class PretrainedLoad:
    """One module initialised from a checkpoint.

    Attributes:
        name (str): The module's name in the model (``'backbone'``,
            ``'roi_head.shared_head'``).
        module (nn.Module): The module.
        checkpoint (str): The checkpoint file.
        prefix (str | None): The key prefix the init_cfg strips.
        state (dict): The checkpoint tensors the module takes, by the
            module's own key names (filled by :func:`check_pretrained`).
        resized (list[str]): Keys whose checkpoint shape differs and that the
            module resizes on load (e.g. ``pos_embed``).
    """
    name: str
    module: nn.Module
    checkpoint: str
    prefix: Optional[str]
    state: Dict[str, torch.Tensor] = field(default_factory=dict)
    resized: List[str] = field(default_factory=list)

    @property
    def cfg_key(self) -> str:
        return f'model.{self.name}.init_cfg.checkpoint' if self.name else \
            'model.init_cfg.checkpoint'


def _pretrained_cfgs(module: nn.Module) -> List[dict]:
    cfgs = getattr(module, 'init_cfg', None) or []
    cfgs = cfgs if isinstance(cfgs, (list, tuple)) else [cfgs]
    return [c for c in cfgs if isinstance(c, dict)
            and c.get('type') == 'Pretrained']


def find_pretrained_loads(model: nn.Module) -> List[PretrainedLoad]:
    """Every module of ``model`` with a ``Pretrained`` init_cfg."""
    loads = []
    for name, module in model.named_modules():
        for cfg in _pretrained_cfgs(module):
            checkpoint = cfg.get('checkpoint')
            if not checkpoint:
                raise ValueError(
                    f'model.{name}.init_cfg: type Pretrained needs a '
                    'checkpoint; pass the pretraining checkpoint, e.g. '
                    f'--cfg-options model.{name}.init_cfg.checkpoint=PATH')
            loads.append(PretrainedLoad(name, module, checkpoint,
                                        cfg.get('prefix')))
    return loads


def _matches(key: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def _examples(keys: Sequence[str], n: int = 4) -> str:
    keys = sorted(keys)
    more = f' (+{len(keys) - n} more)' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def _drop_prefix_from_cfg(module: nn.Module) -> None:
    for cfg in _pretrained_cfgs(module):
        cfg['prefix'] = None


def _read_state(checkpoint: str) -> Dict[str, torch.Tensor]:
    """The state dict of a local file, or of a URL / ``torchvision://`` /
    ``open-mmlab://`` name through mmengine's loader (which mmengine would
    fetch at initialisation anyway)."""
    if '://' not in checkpoint:
        return read_checkpoint(checkpoint)['state_dict']
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    return ckpt.get('state_dict', ckpt)


def check_pretrained(model: nn.Module,
                     allow_missing: Sequence[str] = (),
                     allow_unexpected: Sequence[str] = (),
                     resizable: Sequence[str] = ()) -> List[PretrainedLoad]:
    """Match the ``Pretrained`` checkpoints of ``model`` before loading.

    Args:
        model (nn.Module): The built, not yet initialised model.
        allow_missing (Sequence[str]): ``fnmatch`` patterns of full module
            keys (``'roi_head.shared_head.norm.*'``) that are meant to stay
            freshly initialised.
        allow_unexpected (Sequence[str]): Patterns of checkpoint keys (after
            the prefix) that no module is meant to take.
        resizable (Sequence[str]): Patterns of module keys whose shape may
            differ because the module resizes them on load (``'*pos_embed'``).

    Returns:
        list[PretrainedLoad]: One entry per initialised module, with the
        tensors it takes.

    Raises:
        FileNotFoundError: A checkpoint file is missing (naming the config
            key).
        ValueError: A file is not a checkpoint, holds none of the prefix's
            keys and does not fit the module as an extracted file either, or
            leaves keys missing / unexpected / of the wrong shape.
    """
    loads = find_pretrained_loads(model)
    groups: Dict[tuple, List[PretrainedLoad]] = {}
    for load in loads:
        groups.setdefault((load.checkpoint, load.prefix), []).append(load)
    for (checkpoint, prefix), group in groups.items():
        try:
            state = _read_state(checkpoint)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f'{group[0].cfg_key}: {err}; expected a maskssl pretraining '
                'checkpoint or an extracted backbone file') from err
        source = f'"{checkpoint}"'
        if prefix:
            state, raw = select_prefix(state, prefix)
            if not raw:
                # An extracted backbone file: load it without the prefix.
                source += f' (no "{prefix}*" keys: read as an extracted file)'
                for load in group:
                    _drop_prefix_from_cfg(load.module)
        taken = set()
        for load in group:
            own = load.module.state_dict()
            missing = [k for k in own if k not in state and not _matches(
                f'{load.name}.{k}', allow_missing)]
            wrong = [k for k in own if k in state
                     and state[k].shape != own[k].shape]
            load.resized = [k for k in wrong if _matches(k, resizable)]
            wrong = [k for k in wrong if k not in load.resized]
            if missing or wrong:
                unused = [k for k in state if k not in own]
                raise ValueError(
                    f'{group[0].cfg_key}: checkpoint {source} does not fit '
                    f'model.{load.name} ({type(load.module).__name__}): '
                    f'{len(missing)} of its {len(own)} keys are missing from '
                    f'the checkpoint ({_examples(missing)}); '
                    + (f'{len(wrong)} have another shape '
                       f'({_examples(wrong)}); ' if wrong else '')
                    + f'the checkpoint has {len(unused)} keys it does not '
                    f'take ({_examples(unused)}). Is it a checkpoint of '
                    'another architecture, or does it need another prefix?')
            load.state = {k: state[k] for k in own if k in state}
            taken.update(load.state)
        unexpected = [k for k in state if k not in taken
                      and not _matches(k, allow_unexpected)]
        if unexpected:
            names = ', '.join(f'model.{load.name}' for load in group)
            raise ValueError(
                f'{group[0].cfg_key}: checkpoint {source} has '
                f'{len(unexpected)} keys that {names} do not take '
                f'({_examples(unexpected)}); their weights would be dropped '
                '(a C4 shared head without the checkpoint\'s layer4?)')
    return loads


def verify_pretrained(loads: Sequence[PretrainedLoad]) -> int:
    """After ``init_weights``: every tensor the modules took equals the
    checkpoint tensor (resized keys excepted).

    Returns:
        int: The number of tensors compared.

    Raises:
        RuntimeError: Naming the module and the first keys that differ.
    """
    count = 0
    for load in loads:
        own = load.module.state_dict()
        differ = [k for k, v in load.state.items() if k not in load.resized
                  and not torch.equal(own[k].cpu(), v.to(own[k].dtype))]
        if differ:
            raise RuntimeError(
                f'model.{load.name}: {len(differ)} tensors differ from '
                f'"{load.checkpoint}" after init_weights '
                f'({_examples(differ)})')
        count += len(load.state) - len(load.resized)
    return count
