"""DINO's teacher temperature schedule: a linear warm-up, then constant."""
import numbers
from typing import Any

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.registry import HOOKS
from torch import nn

from maskssl.utils.arg_checks import check_int


def teacher_temperature(epoch: int, warmup_temp: float, temp: float,
                        warmup_epochs: int) -> float:
    """The teacher temperature of (0-based) ``epoch``.

    DINO's schedule (``DINOLoss.teacher_temp_schedule`` in
    facebookresearch/dino ``main_dino.py``):
    ``np.linspace(warmup_temp, temp, warmup_epochs)[epoch]`` during the first
    ``warmup_epochs`` epochs, so epoch 0 uses ``warmup_temp`` and epoch
    ``warmup_epochs - 1`` already uses ``temp``; ``temp`` afterwards.
    """
    if epoch < warmup_epochs:
        return float(np.linspace(warmup_temp, temp, warmup_epochs)[epoch])
    return float(temp)


def unwrap_model(model: nn.Module) -> nn.Module:
    """``model`` without its DDP/FSDP-style wrapper, if it has one."""
    return model.module if is_model_wrapper(model) else model


def resolve_module(model: nn.Module, path: str, owner: str) -> nn.Module:
    """The submodule of ``model`` (unwrapped) at the dotted ``path`` (``''``
    is the model itself).

    Raises:
        ValueError: naming ``owner`` and ``path`` when no such submodule
            exists.
    """
    model = unwrap_model(model)
    try:
        return model.get_submodule(path)
    except AttributeError as err:
        raise ValueError(f'{owner}: module={path!r} is not a submodule of '
                         f'{type(model).__name__} ({err})') from None


def require_epoch_based(runner, owner: str) -> None:
    """Raise if the runner trains by iterations: there ``runner.epoch``
    stays 0, so an epoch schedule would silently never advance."""
    if isinstance(runner.train_loop, IterBasedTrainLoop):
        raise ValueError(f'{owner} follows runner.epoch and needs an '
                         'epoch-based train loop; got IterBasedTrainLoop '
                         '(train_cfg.by_epoch=False)')


def _check_temperature(value: Any, name: str) -> float:
    if (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and value > 0):
        return float(value)
    raise ValueError(f'TeacherTempWarmupHook: {name}={value!r} '
                     f'({type(value).__name__}); expected a positive number')


@HOOKS.register_module()
class TeacherTempWarmupHook(Hook):
    """Warm the teacher's softmax temperature up linearly, then hold it.

    MST follows DINO for the temperature coefficient (MST Sec. 4.1 and
    App. G: "the setting of momentum, temperature coefficient, and weight
    decay follows [2]"); DINO warms the teacher temperature up linearly from
    0.04 to 0.07 over the first 30 epochs (DINO's implementation details;
    the ViT-S/16 recipe of facebookresearch/dino: ``--warmup_teacher_temp
    0.04 --teacher_temp 0.07 --warmup_teacher_temp_epochs 30``), as a high
    teacher temperature early on makes training unstable.

    Before every training epoch the float attribute ``teacher_temp`` of the
    module at the dotted path ``module`` of the (unwrapped) model is set to
    :func:`teacher_temperature` of ``runner.epoch``, and logged as the scalar
    ``train/teacher_temp``. The value is a pure function of the epoch and the
    hook holds no state, so a run resumed from an epoch checkpoint uses the
    same temperatures as an uninterrupted one. Unlike mmpretrain's
    ``DINOTeacherTempWarmupHook`` it needs no ``max_epochs``, finds the
    module by path instead of ``model.module.head``, and checks its target
    before training starts.

    Args:
        warmup_teacher_temp (float): The temperature of epoch 0. Defaults to
            0.04.
        teacher_temp (float): The temperature from epoch
            ``warmup_epochs - 1`` on. Defaults to 0.07.
        warmup_epochs (int): Epochs of the linear warm-up; 0 uses
            ``teacher_temp`` from the start. Defaults to 30.
        module (str): Dotted path, in the model, of the module whose
            ``teacher_temp`` is set. Defaults to ``'head'``.
    """

    def __init__(self, warmup_teacher_temp: float = 0.04,
                 teacher_temp: float = 0.07, warmup_epochs: int = 30,
                 module: str = 'head') -> None:
        self.warmup_teacher_temp = _check_temperature(warmup_teacher_temp,
                                                      'warmup_teacher_temp')
        self.teacher_temp = _check_temperature(teacher_temp, 'teacher_temp')
        self.warmup_epochs = check_int(warmup_epochs, 'warmup_epochs', 0,
                                       'TeacherTempWarmupHook')
        if not isinstance(module, str):
            raise ValueError(f'TeacherTempWarmupHook: module={module!r} '
                             f'({type(module).__name__}); expected a dotted '
                             "path such as 'head'")
        self.module = module

    def _target(self, runner) -> nn.Module:
        """The module whose ``teacher_temp`` the hook sets."""
        target = resolve_module(runner.model, self.module,
                                'TeacherTempWarmupHook')
        current = getattr(target, 'teacher_temp', None)
        if not isinstance(current, numbers.Real) or isinstance(current, bool):
            raise ValueError(
                f'TeacherTempWarmupHook: module={self.module!r} '
                f'({type(target).__name__}) has no float attribute '
                f'teacher_temp (found {type(current).__name__}); expected '
                'the module whose teacher temperature the hook sets')
        return target

    def before_train(self, runner) -> None:
        require_epoch_based(runner, 'TeacherTempWarmupHook')
        self._target(runner)

    def before_train_epoch(self, runner) -> None:
        value = teacher_temperature(runner.epoch, self.warmup_teacher_temp,
                                    self.teacher_temp, self.warmup_epochs)
        self._target(runner).teacher_temp = value
        runner.message_hub.update_scalar('train/teacher_temp', value)
