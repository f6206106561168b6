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

import numpy as np
import torch
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
