"""Where the time of a training step goes: the wall time of named parts of
real training steps, measured by wrapping the methods and functions that
compute them (the cost breakdowns of ``tools/analysis/benchmark_mst.py``,
``benchmark_saliency.py`` and ``benchmark_ehm.py``)."""
import statistics
import time
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple, Union

import torch
from mmengine.logging import MessageHub

from ..utils.arg_checks import check_int
from .benchmark import StepRunner

# (owner, attribute name, replacement): an object (a model, one of its
# modules, a Python module) and what to put in place of its attribute
Patch = Tuple[Any, str, Callable]


class PartTimers(metaclass=ABCMeta):
    """Wall time of named parts of training steps.

    :meth:`timed` wraps a callable so that each call, while :attr:`active`,
    adds its duration to a part. Only the outermost timed call records: a
    timed call made inside another belongs to the outer one, so the parts
    are disjoint intervals of the step and their shares of it sum to at
    most 1. On CUDA each recorded call synchronises before and after, so
    that a part does not absorb queued work.

    A subclass says what to wrap in :meth:`patches`; :meth:`patched`
    installs the wrappers for the duration of a block.

    Args:
        parts (Sequence[str]): The part names (keys of :attr:`totals`, in
            seconds, and :attr:`calls`, recorded calls).
        device (str): Where the steps run.
    """

    def __init__(self, parts: Sequence[str], device: str) -> None:
        self.cuda = device.startswith('cuda')
        self.totals = {key: 0.0 for key in parts}
        self.calls = {key: 0 for key in parts}
        self.active = False
        self._depth = 0

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def timed(self, fn: Callable, part: Union[str, Callable[..., str]]
              ) -> Callable:
        """``fn`` wrapped to time its outermost calls as ``part``: a part
        name, or a function of the call's arguments that returns one."""
        def wrapper(*args, **kwargs):
            if not self.active or self._depth:
                self._depth += 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    self._depth -= 1
            key = part if isinstance(part, str) else part(*args, **kwargs)
            self._sync()
            start = time.perf_counter()
            self._depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                self._sync()
                self.totals[key] += time.perf_counter() - start
                self.calls[key] += 1
        return wrapper

    @abstractmethod
    def patches(self) -> List[Patch]:
        """What to replace while the steps run (wrappers from
        :meth:`timed`, or any other replacement)."""

    @contextmanager
    def patched(self) -> Iterator['PartTimers']:
        """Install :meth:`patches` for the duration of the block, then put
        everything back: an attribute its owner held itself (a Python
        module's function, an instance attribute) gets its old value, one
        it took from its class (a method) is deleted again."""
        installed = []
        try:
            for owner, name, replacement in self.patches():
                installed.append((owner, name, name in vars(owner),
                                  vars(owner).get(name)))
                setattr(owner, name, replacement)
            yield self
        finally:
            for owner, name, owned, held in reversed(installed):
                if owned:
                    setattr(owner, name, held)
                else:
                    delattr(owner, name)


def time_parts(runner: StepRunner, timers: PartTimers, iters: int = 5,
               warmup: int = 2) -> Dict[str, Any]:
    """Time ``iters`` training steps of ``runner`` after ``warmup`` untimed
    ones, and the parts of them that ``timers`` wraps.

    The message hub's ``iter`` and ``max_iters`` move as in a training run
    of ``warmup + iters`` iterations (a ``CosineEMA`` or an evolving masker
    reads them).

    Returns:
        dict: ``step_ms`` (mean step), ``{part}_ms`` (mean per step) and
        ``{part}_share`` of the step for each part of ``timers``, and
        ``calls_per_step`` (outermost timed calls of each part). Shares are
        of the summed step times; the parts are disjoint, so they sum to at
        most 1.

    Raises:
        ValueError: if ``iters`` is not a positive int or ``warmup`` a
            non-negative one.
    """
    iters = check_int(iters, 'iters', 1, 'time_parts')
    warmup = check_int(warmup, 'warmup', 0, 'time_parts')
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 0)
    hub.update_info('max_iters', warmup + iters)
    with timers.patched():
        for _ in range(warmup):
            runner.step(record=False)
        timers.active = True
        try:
            for i in range(iters):
                hub.update_info('iter', warmup + i)
                runner.step()
        finally:
            timers.active = False
    total = sum(runner.times[-iters:])
    out: Dict[str, Any] = dict(step_ms=1e3 * total / iters)
    for key, seconds in timers.totals.items():
        out[f'{key}_ms'] = 1e3 * seconds / iters
        out[f'{key}_share'] = seconds / total
    out['calls_per_step'] = {k: n / iters for k, n in timers.calls.items()}
    return out


def median_ms(fn: Callable[[], Any], device: str, reps: int = 10,
              warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in ms over ``reps`` calls after
    ``warmup`` untimed ones, synchronising CUDA around each."""
    reps = check_int(reps, 'reps', 1, 'median_ms')
    warmup = check_int(warmup, 'warmup', 0, 'median_ms')
    cuda = device.startswith('cuda')
    times = []
    for i in range(warmup + reps):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)
