"""Checks of what ``--resume`` is about to resume, before anything trains.

mmengine resumes whatever the file holds: a text file fails with
``KeyError: 101``, a backbone-only file with ``KeyError: 'message_hub'``, a
checkpoint of another algorithm or of other shapes logs "resumed" and then
crashes inside ``torch.optim``; a bare ``--resume`` with nothing to resume
trains from scratch, and a finished run exits without a word.
"""
import os.path as osp
from typing import Any, Dict, Optional

from mmengine.runner import find_latest_checkpoint
from torch import nn

from maskssl.checkpoint import read_checkpoint

# the keys mmengine's Runner.resume reads
TRAINING_KEYS = ('meta', 'state_dict', 'optimizer', 'message_hub')


class ResumeError(RuntimeError):
    """The checkpoint given to ``--resume`` cannot continue this run."""


def resume_source(cfg: Any) -> Optional[str]:
    """The checkpoint a run with ``cfg`` resumes from: ``cfg.load_from``
    with ``cfg.resume``, the ``last_checkpoint`` of ``cfg.work_dir`` with a
    bare ``--resume`` (``cfg.resume`` and no ``load_from``), ``None`` when
    nothing is resumed."""
    if not cfg.get('resume', False):
        return None
    return cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)


def check_resume(filename: str, model: nn.Module) -> Dict[str, Any]:
    """Check that ``filename`` is a training checkpoint of ``model``.

    Args:
        filename (str): The checkpoint to resume.
        model (nn.Module): The unwrapped model of the run.

    Returns:
        dict: The checkpoint's ``meta``.

    Raises:
        ResumeError: naming the file and the first problem: not a PyTorch
            checkpoint (or one with NaN/inf weights), not a training
            checkpoint (no optimizer or message hub: an extracted backbone
            or a published model), a checkpoint of another algorithm
            class, or the first missing, unexpected or differently shaped
            tensor.
    """
    try:
        ckpt = read_checkpoint(filename)
    except (OSError, ValueError) as err:
        raise ResumeError(f'--resume: {err}') from err
    missing = [key for key in TRAINING_KEYS if key not in ckpt]
    if missing:
        raise ResumeError(
            f'--resume: {filename} is not a training checkpoint (it has no '
            f'{" / ".join(missing)}; an extracted backbone or a published '
            'model?). Resume from an epoch_*.pth of a run; to start from its '
            'weights instead, set load_from (or the backbone init_cfg) and '
            'drop --resume')
    meta = ckpt['meta'] or {}
    algorithm = type(model).__name__
    saved = meta.get('model_type')
    if saved is not None and saved != algorithm:
        raise ResumeError(
            f'--resume: {filename} is a checkpoint of {saved}, this config '
            f'trains {algorithm}')
    expected = model.state_dict()
    state = ckpt['state_dict']
    problem = None
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped = [key for key in expected if key in state
                and tuple(state[key].shape) != tuple(expected[key].shape)]
    if missing:
        problem = (f'it has no "{missing[0]}" ({len(missing)} of '
                   f'{len(expected)} tensors missing)')
    elif reshaped:
        key = reshaped[0]
        problem = (f'"{key}" has shape {tuple(state[key].shape)} in the '
                   f'checkpoint and {tuple(expected[key].shape)} in the model')
    elif unexpected:
        problem = (f'it has "{unexpected[0]}" ({len(unexpected)} tensors the '
                   'model does not have)')
    if problem:
        raise ResumeError(
            f'--resume: {filename} does not match the model of this config '
            f'({algorithm}): {problem}; was it written by another config?')
    return meta


def is_finished(meta: Dict[str, Any], train_cfg: Dict[str, Any]) -> bool:
    """Whether a checkpoint with ``meta`` ends the schedule of ``train_cfg``
    (``max_epochs`` of an epoch-based loop, else ``max_iters``)."""
    if train_cfg.get('max_epochs') is not None:
        return meta.get('epoch', 0) >= train_cfg['max_epochs']
    if train_cfg.get('max_iters') is not None:
        return meta.get('iter', 0) >= train_cfg['max_iters']
    return False


def describe_missing_resume(work_dir: str, required: bool = False) -> str:
    """The warning for a bare ``--resume`` that finds nothing in
    ``work_dir``, or with ``required`` (``--require-resume``) the error."""
    where = osp.join(work_dir, 'last_checkpoint')
    found = (f'--resume: nothing to resume in {work_dir} ({where} does not '
             'exist)')
    if required:
        return (f'{found} and --require-resume is given, so nothing is '
                'trained. Check --work-dir; drop --require-resume to start '
                'from scratch')
    return (f'{found}, so this run STARTS FROM SCRATCH. Check --work-dir; '
            'pass --require-resume to make this an error')
