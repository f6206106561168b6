"""Safe loading of mmengine training checkpoints under ``weights_only=True``.

torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10 writes
the message hub (``HistoryBuffer`` objects holding numpy arrays, numpy scalars
and dtypes) into every training checkpoint, so resuming and ``Pretrained``
initialisation from a raw training checkpoint fail. Instead of switching
``weights_only`` off, exactly these types are allow-listed.

``HistoryBuffer.__getstate__`` also pickles its statistics methods, as
``getattr(HistoryBuffer, 'min')``; allow-listing ``getattr`` would let a
checkpoint reach any attribute, so maskssl instead pickles a ``HistoryBuffer``
from its data alone (the methods are class-level and registered at import).
Checkpoints written by plain mmengine still need ``weights_only=False``.
"""
import copyreg
import os.path as osp

import numpy as np
import torch
from torch import nn
from mmengine.logging import HistoryBuffer


def _numpy_types() -> list:
    types = [
        np.dtype, np.ndarray, np.core.multiarray._reconstruct,
        np.core.multiarray.scalar
    ]
    # numpy pickles a dtype instance through its concrete DType class
    # (``numpy.dtypes.Float64DType`` ...); allow every one of them.
    types += [type(np.dtype(code)) for code in np.typecodes['All']
              if code not in 'OV']
    return types


def _reduce_history_buffer(buffer: HistoryBuffer) -> tuple:
    return HistoryBuffer, (buffer._log_history, buffer._count_history,
                           buffer.max_length)


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list the non-tensor types found in mmengine checkpoints and make
    ``HistoryBuffer`` pickle without functions."""
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no weights_only default
        return
    add_safe_globals([HistoryBuffer] + _numpy_types())


def load_backbone_weights(backbone: nn.Module,
                          filename: str,
                          prefix: str = 'backbone.') -> int:
    """Load the ``prefix`` tensors of a training checkpoint (or a plain state
    dict) into ``backbone``, strictly.

    Accepts a raw mmengine training checkpoint (keys ``backbone.*``, possibly
    next to ``target_net.*``, ``neck.*`` ...) or an extracted backbone file
    (keys without the prefix).

    Returns:
        int: The number of tensors loaded.

    Raises:
        FileNotFoundError: The file does not exist.
        KeyError: Naming the file, when it holds no backbone keys, or when
            keys are missing or unexpected for ``backbone``.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint "{filename}" does not exist')
    ckpt = torch.load(filename, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise KeyError(f'{filename}: expected a checkpoint dict with a '
                       f'state_dict, got {type(ckpt).__name__}')
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items()
                 if k.startswith(prefix)}
    result = backbone.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(
            f'{filename} does not match the backbone '
            f'{type(backbone).__name__}: {len(result.missing_keys)} missing '
            f'keys (e.g. {result.missing_keys[:3]}), '
            f'{len(result.unexpected_keys)} unexpected keys '
            f'(e.g. {result.unexpected_keys[:3]}); expected "{prefix}*" keys '
            'of a maskssl/mmpretrain checkpoint or an extracted backbone')
    return len(state)
