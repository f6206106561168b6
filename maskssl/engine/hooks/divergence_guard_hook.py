"""Stop (or skip) training steps whose loss or gradients are not finite."""
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from mmpretrain.registry import HOOKS

from maskssl.utils.arg_checks import check_int

SKIPPED_KEY = 'divergence_guard/skipped_steps'


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or gradient more often than
    allowed."""


@HOOKS.register_module()
class DivergenceGuardHook(Hook):
    """Never step the optimizer on a NaN/inf loss or gradient.

    Without it a diverged run goes on silently: every weight turns NaN, the
    run exits 0 and its checkpoints replace the good ones. Before every
    optimizer step this hook checks the loss that was back-propagated and
    (except under ``AmpOptimWrapper``, whose dynamic loss scaler already skips
    steps with overflowing scaled gradients) every gradient. A bad step is
    not taken: the gradients are dropped and the weights stay as they were.
    After the iteration the hook logs the iteration and its loss terms; the
    first ``max_skips + 1``-th bad step raises :class:`DivergenceError`, which
    ends the run with a non-zero exit and leaves the last checkpoint intact.

    ``max_skips=0`` (the default) stops at the first bad step. Large-scale
    recipes that tolerate rare spikes skip a few (counted over the whole run,
    logged as ``divergence_guard/skipped_steps`` and restored on resume).
    In distributed runs the ranks agree on every decision (one all-reduce of
    a flag), so they skip or stop together.

    The hook wraps the optimizer wrapper's ``backward`` and ``step`` of the
    runner's instance, which is where the loss and the gradients are known
    before the update (mmengine's hooks have no point between backward and
    step).

    Args:
        max_skips (int): Bad steps to skip before the run stops. Defaults
            to 0.
    """

    priority = 'VERY_HIGH'  # report before the logger and checkpoint hooks

    def __init__(self, max_skips: int = 0) -> None:
        self.max_skips = check_int(max_skips, 'max_skips', 0,
                                   'DivergenceGuardHook')
        self.skipped = 0
        self._bad: Optional[str] = None

    def before_train(self, runner) -> None:
        self.skipped = runner.message_hub.get_info(SKIPPED_KEY, 0)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        names = {id(p): n for n, p in model.named_parameters()}
        wrappers = runner.optim_wrapper
        wrappers = (wrappers.values() if isinstance(wrappers, OptimWrapperDict)
                    else [wrappers])
        for wrapper in wrappers:
            self._guard(wrapper, names)

    def _guard(self, wrapper: OptimWrapper, names: Dict[int, str]) -> None:
        """Wrap ``wrapper.backward`` and ``wrapper.step`` (this instance)."""
        backward, step = wrapper.backward, wrapper.step
        check_grads = not isinstance(wrapper, AmpOptimWrapper)
        loss_finite = [True]

        def guarded_backward(loss: torch.Tensor, **kwargs) -> None:
            loss_finite[0] = bool(torch.isfinite(loss.detach()).all())
            backward(loss, **kwargs)

        def guarded_step(**kwargs) -> None:
            reason = None if loss_finite[0] else 'the loss is not finite'
            if reason is None and check_grads:
                reason = non_finite_grad(wrapper.optimizer, names)
            if agree(reason is not None):
                self._bad = reason or 'another rank has a non-finite step'
                return  # update_params' zero_grad drops the gradients
            step(**kwargs)

        wrapper.backward = guarded_backward
        wrapper.step = guarded_step

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[Dict] = None) -> None:
        if self._bad is None:
            return
        reason, self._bad = self._bad, None
        self.skipped += 1
        runner.message_hub.update_info(SKIPPED_KEY, self.skipped)
        runner.message_hub.update_scalar(f'train/{SKIPPED_KEY}', self.skipped)
        terms = ', '.join(f'{k}={float(torch.as_tensor(v).detach()):.6g}'
                          for k, v in (outputs or {}).items())
        where = (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
                 f'{reason}; loss terms: {terms or "none"}')
        if self.skipped > self.max_skips:
            raise DivergenceError(
                f'training diverged at {where}. The step was not taken, so '
                f'the weights and the last checkpoint are intact '
                f'({self.skipped} bad step(s), max_skips={self.max_skips}). '
                'Fix the cause (e.g. a lower lr: --resume restores the '
                "checkpoint's optimizer lr, so start a new run with "
                'load_from=<last checkpoint>) or allow rare bad steps with '
                'DivergenceGuardHook(max_skips=n)')
        runner.logger.warning(
            f'DivergenceGuardHook: skipped the optimizer step at {where} '
            f'({self.skipped} of at most {self.max_skips} skipped)')


def non_finite_grad(optimizer: torch.optim.Optimizer,
                    names: Dict[int, str]) -> Optional[str]:
    """``None`` when every gradient of ``optimizer``'s parameters is finite,
    else a description naming the first parameter with a NaN/inf gradient
    (``names`` maps ``id(param)`` to its name)."""
    params = [p for group in optimizer.param_groups for p in group['params']
              if p.grad is not None]
    if not params:
        return None
    finite = torch.stack([torch.isfinite(p.grad).all() for p in params])
    if bool(finite.all()):
        return None
    first = params[int((~finite).nonzero()[0])]
    return (f'the gradient of "{names.get(id(first), "?")}" holds '
            f'{int((~torch.isfinite(first.grad)).sum())} NaN/inf values')


def agree(flag: bool) -> bool:
    """``flag`` of any rank (``True`` if one rank has it), or ``flag``
    itself outside distributed runs."""
    if not is_distributed():
        return flag
    value = torch.tensor([float(flag)])
    all_reduce(value, op='max')
    return bool(value.item())
