"""Reading, selecting from and writing checkpoint files.

Checkpoints are read with ``weights_only=True`` (see
:mod:`maskssl.checkpoint.safe_load` for the types that mmengine training
checkpoints need) and refused when a tensor holds NaN or inf (a diverged
run); files are written atomically, and :func:`check_output_path` keeps a
tool from writing over its input.
"""
import fnmatch
import os
import os.path as osp
import tempfile
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn


def first_non_finite(
        state: Dict[str, torch.Tensor]) -> Optional[Tuple[str, int]]:
    """The first floating-point tensor of ``state`` (in its order) that holds
    NaN, +inf or -inf values, and how many of its values are such.

    Integer and bool tensors (counters such as ``num_batches_tracked``) are
    skipped: they cannot hold NaN or inf.

    Returns:
        tuple | None: ``(name, count)``, or None when every floating-point
        tensor is finite.
    """
    for name, tensor in state.items():
        if tensor.is_floating_point():
            count = tensor.numel() - int(torch.isfinite(tensor).sum())
            if count:
                return name, count
    return None


def read_checkpoint(filename: str,
                    allow_non_finite: bool = False) -> Dict[str, Any]:
    """Load a maskssl / mmpretrain checkpoint with ``weights_only=True``.

    Args:
        filename: The checkpoint file.
        allow_non_finite: Return the checkpoint even when a tensor of its
            state dict holds NaN or inf values (by default such a file, left
            by a diverged run, is refused).

    Returns:
        dict: The checkpoint, always with a ``state_dict`` entry mapping names
        to tensors (a bare state dict is wrapped as ``{'state_dict': ...}``).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Naming the file, when it does not unpickle under
            ``weights_only=True`` or holds no name -> tensor state dict; and
            naming the file and the first tensor with NaN/inf values (see
            :func:`first_non_finite`) and their count, unless
            ``allow_non_finite``.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint "{filename}" does not exist')
    try:
        ckpt = torch.load(filename, map_location='cpu', weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError ..
        raise ValueError(
            f'{filename}: not a PyTorch checkpoint that loads with '
            f'weights_only=True ({type(err).__name__}: {str(err)[:200]}); '
            'expected a maskssl/mmpretrain .pth file') from err
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if (not isinstance(state, dict) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values())):
        raise ValueError(
            f'{filename}: expected a checkpoint dict whose "state_dict" maps '
            f'parameter names to tensors, got {type(ckpt).__name__}'
            + (f' with keys {sorted(ckpt)[:5]}' if isinstance(ckpt, dict)
               else ''))
    non_finite = None if allow_non_finite else first_non_finite(state)
    if non_finite:
        name, count = non_finite
        raise ValueError(
            f'{filename}: tensor "{name}" has {count} NaN/inf values of '
            f'{state[name].numel()}; the run that wrote this checkpoint '
            'diverged: use an earlier checkpoint')
    return ckpt if state is not ckpt else {'state_dict': state}


def check_output_path(src: str, dst: str, force: bool = False) -> None:
    """Refuse to write a tool's output ``dst`` over its input ``src``.

    ``dst`` is the input when both exist and are the same file
    (:func:`os.path.samefile`: the same path however spelled, a hard link or
    a symlink to ``src``). A ``dst`` that does not exist yet cannot be the
    input.

    Raises:
        ValueError: Naming both paths, when ``dst`` is ``src`` and ``force``
            is not set.
    """
    if (not force and osp.exists(src) and osp.exists(dst)
            and osp.samefile(src, dst)):
        raise ValueError(
            f'the output "{dst}" is the same file as the input "{src}"; '
            'give a different output path, or --force to overwrite it')


def strip_prefix(state: Dict[str, torch.Tensor],
                 prefix: str) -> Dict[str, torch.Tensor]:
    """The ``prefix*`` entries of ``state`` with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}


def select_prefix(state: Dict[str, torch.Tensor],
                  prefix: str) -> Tuple[Dict[str, torch.Tensor], bool]:
    """The backbone tensors of a raw training checkpoint's state (its
    ``prefix*`` keys, prefix stripped) or of an extracted backbone file's
    (all its keys).

    Returns:
        tuple: ``(state, raw)``; ``raw`` tells whether ``state`` held
        ``prefix*`` keys.
    """
    stripped = strip_prefix(state, prefix)
    return (stripped, True) if stripped else (state, False)


def backbone_state(filename: str,
                   prefix: str = 'backbone.') -> Tuple[Dict, bool]:
    """:func:`select_prefix` on the state dict of ``filename`` (read by
    :func:`read_checkpoint`, whose errors it raises)."""
    return select_prefix(read_checkpoint(filename)['state_dict'], prefix)


def describe_state_mismatch(own: Dict[str, torch.Tensor],
                            state: Dict[str, torch.Tensor]) -> str:
    """What keeps ``state`` (a checkpoint's tensors) from loading strictly
    into a module whose state dict is ``own``: the counts and first three of
    the missing keys, the unexpected keys and the keys whose shapes differ
    (checkpoint vs model); ``''`` when it fits."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                    for k in set(own) & set(state)
                    if state[k].shape != own[k].shape)
    if not (missing or unexpected or shapes):
        return ''
    return (f'{len(missing)} missing keys {missing[:3]}, {len(unexpected)} '
            f'unexpected keys {unexpected[:3]}, {len(shapes)} shapes differ '
            f'(checkpoint vs model) {shapes[:3]}')


def load_backbone_weights(backbone: nn.Module,
                          filename: str,
                          prefix: str = 'backbone.',
                          allow_unexpected: Sequence[str] = ()) -> int:
    """Load the ``prefix`` tensors of a training checkpoint (or a plain state
    dict) into ``backbone``, strictly, but for checkpoint keys matching an
    ``allow_unexpected`` ``fnmatch`` pattern (as ``PretrainedCheckHook``'s:
    e.g. ``'mask_token'``, the ``[MASK]`` embedding of a masked-image
    pretraining, which a plain backbone has no use for).

    Accepts a raw mmengine training checkpoint (keys ``backbone.*``, possibly
    next to ``target_net.*``, ``neck.*`` ...) or an extracted backbone file
    (keys without the prefix).

    Returns:
        int: The number of tensors loaded.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Naming the file, when it is not a checkpoint or holds
            NaN/inf values (see :func:`read_checkpoint`).
        KeyError: Naming the file, when keys are missing or unexpected for
            ``backbone``.
    """
    state, _ = backbone_state(filename, prefix)
    own = backbone.state_dict()
    state = {k: v for k, v in state.items() if k in own or not any(
        fnmatch.fnmatchcase(k, p) for p in allow_unexpected)}
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


def umask_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask
    (``0o666 & ~umask``)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def durable_replace(tmp: str, filename: str) -> None:
    """Move the complete file ``tmp`` to ``filename`` so that a crash at any
    moment leaves either the old ``filename`` or the new one, never a
    truncated file: ``tmp`` is flushed to disk (``fsync``), given the mode
    that the umask gives new files (``mkstemp`` creates 0600), renamed over
    ``filename`` (atomic within one file system) and the directory entry is
    flushed too. Both paths must be in the same directory."""
    with open(tmp, 'rb+') as f:
        os.fsync(f.fileno())
    os.chmod(tmp, umask_mode())
    os.replace(tmp, filename)
    dir_fd = os.open(osp.dirname(osp.abspath(filename)), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_file(data: Union[str, bytes], filename: str) -> None:
    """Write ``data`` into ``filename``, in text mode for a ``str`` and in
    binary mode for ``bytes`` (a ``save`` for :func:`save_atomic`)."""
    with open(filename, 'w' if isinstance(data, str) else 'wb') as f:
        f.write(data)


def save_atomic(obj: Any, filename: str,
                save: Callable[[Any, str], None] = torch.save) -> None:
    """Write ``obj`` with ``save(obj, path)`` to a temporary file next to
    ``filename``, then :func:`durable_replace` it into place, so that an
    interrupted write never leaves a truncated file under the final name and
    the result has the mode the umask gives."""
    dirname = osp.dirname(osp.abspath(filename))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dirname, suffix='.tmp')
    os.close(fd)
    try:
        save(obj, tmp)
        durable_replace(tmp, filename)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
