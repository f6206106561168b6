"""MST's speed table (configs/mst/README.md).

The configs of one group run step by step in one process with the benchmark
harness (``maskssl.analysis.benchmark``), alternating them, and each one's
step-time ratio to the baseline is printed beside the training-step FLOP
ratio:

- MST, the config as it is (attention-guided masker and global image
  decoder);
- MST with the decoder only (``model.masker=None``, MST Table 4 "None");
- MST with the masker only (``model.decoder=None``);
- the baseline: the same config with both off (``model.masker=None
  model.decoder=None``), plain DINO built by our own MST class;

all with ``--num-local`` local crops (the ``'local'`` group of the
``MultiViewWithRoles`` in the train pipeline; 6 by default, the speed
target's 2 global + 6 local, where the config has DINO's 8).

Then the cost breakdown of one MST step of the config: the share of the step
taken by the mask computation (the masker's call), the decoder forward, the
restoration loss and the teacher forward (which also returns the class
attention the masker reads, MST Eq. 4), timed by wrapping the model's methods
during real training steps.

The config trains with AMP (``AmpOptimWrapper``), which mmengine builds only
on an accelerator: on CPU the tool swaps in a plain ``OptimWrapper`` (the same
optimizer, fp32) and says so.

Example (one GPU)::

    python tools/analysis/benchmark_mst.py --batch-size 64 \
        --out work_dirs/bench_mst.json
"""
import argparse
import copy
import os.path as osp
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from torch.utils.flop_counter import FlopCounterMode

from maskssl.analysis import (StepRunner, comparison_markdown, ratio_table,
                              report_json, run_benchmark)
from maskssl.launch import load_config
from maskssl.utils import register_all_modules
from maskssl.utils.arg_checks import check_int

MST = 'configs/mst/mst_deit-small-p16_8xb128-amp-coslr-100e_in1k.py'
# breakdown parts, in print order: (key, label)
PARTS = [
    ('masker', 'mask computation (masker call, Alg. 1 / Eq. 5)'),
    ('decoder', 'global image decoder forward (Sec. 3.3)'),
    ('restore_loss', 'restoration loss (L1, Eq. 9)'),
    ('teacher', 'teacher forward (with its class attention)'),
]
# the row names of comparison_configs, the baseline last
FULL = 'MST (masker + decoder)'
DECODER_ONLY = 'MST, decoder only (masker=None)'
MASKER_ONLY = 'MST, masker only (decoder=None)'
DINO = 'DINO (MST, masker=None, decoder=None)'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=MST,
                        help='an MST config with a masker and a decoder')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--img-size', type=int,
                        help='largest crop (default: the config\'s, 224); '
                        'every crop is scaled alike')
    parser.add_argument('--num-local', type=int, default=6,
                        help='local crops per image')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--device', help='default: cuda if available')
    parser.add_argument('--out', help='also write the JSON to this file')
    return parser.parse_args()


def check_args(args: argparse.Namespace) -> None:
    """Refuse step counts and sizes that measure nothing, naming the option,
    before any config is loaded (``--warmup 0`` and ``--num-local 0`` are
    allowed)."""
    for option, minimum in (('iters', 1), ('warmup', 0), ('batch_size', 1),
                            ('img_size', 1), ('num_local', 0)):
        value = getattr(args, option)
        if value is not None:
            check_int(value, '--' + option.replace('_', '-'), minimum,
                      owner='benchmark_mst.py')


def with_local_crops(cfg: Config, num_local: int) -> Config:
    """A copy of an MST config with ``num_local`` local crops per image (the
    last group of its ``MultiViewWithRoles``, ``pipeline[1]``, which must
    hold the ``'local'`` views)."""
    num_local = check_int(num_local, 'num_local', 0, 'with_local_crops')
    cfg = copy.deepcopy(cfg)
    views = cfg.train_dataloader.dataset.pipeline[1]
    if views.get('type') != 'MultiViewWithRoles' or \
            views.roles[-1] != 'local':
        raise ValueError(
            f'{cfg.filename}: train pipeline[1]={views.get("type")!r} with '
            f'roles {views.get("roles")}; expected a MultiViewWithRoles whose '
            "last group is the 'local' views")
    views.num_views = list(views.num_views[:-1]) + [num_local]
    return cfg


def view_counts(cfg: Config) -> Tuple[int, int]:
    """The global and local crops per image of an MST config's
    ``MultiViewWithRoles`` (``pipeline[1]``)."""
    views = cfg.train_dataloader.dataset.pipeline[1]
    counts = {'global': 0, 'local': 0}
    for role, n in zip(views.roles, views.num_views):
        counts[role] = counts.get(role, 0) + n
    return counts['global'], counts['local']


def without_amp(cfg: Config) -> Config:
    """A copy of a config whose ``AmpOptimWrapper`` (CUDA only in mmengine)
    is a plain ``OptimWrapper`` with the same optimizer and clipping."""
    cfg = copy.deepcopy(cfg)
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype'):
            cfg.optim_wrapper.pop(key, None)
    return cfg


def variant(cfg: Config, masker: bool = True, decoder: bool = True) -> Config:
    """A copy of an MST config with its masker and/or decoder switched off
    (``None``); the rest (backbone, heads, views, optimizer) unchanged."""
    model = cfg.model
    if model.get('type') != 'MST' or not model.get('masker') or \
            not model.get('decoder'):
        raise ValueError(
            f'{cfg.filename}: model.type={model.get("type")!r}, masker='
            f'{model.get("masker")!r}, decoder={model.get("decoder")!r}; '
            'expected an MST config with a masker and a decoder')
    cfg = copy.deepcopy(cfg)
    if not masker:
        cfg.model.masker = None
    if not decoder:
        cfg.model.decoder = None
    return cfg


def comparison_configs(base: Config) -> Dict[str, Config]:
    """The configs timed together, alternated step by step: the config, its
    decoder-only and masker-only variants, then plain DINO (the baseline,
    last)."""
    return {
        FULL: variant(base),
        DECODER_ONLY: variant(base, masker=False),
        MASKER_ONLY: variant(base, decoder=False),
        DINO: variant(base, masker=False, decoder=False),
    }


def counts_fused_attention(device: str) -> bool:
    """Whether torch's ``FlopCounterMode`` (the harness's FLOP count) counts
    ``scaled_dot_product_attention`` on ``device``. It did not on CPU with
    torch 2.14, where ViT blocks use the fused kernel: their attention
    matmuls (``2 L^2 C`` multiply-adds per block and image, about 8% of a
    ViT-S/16 block at 224 px) are then missing from every FLOP count, while
    the teacher's last block, written out as matmuls to return its attention
    when a masker needs it, is counted."""
    q = torch.zeros(1, 1, 2, 2, device=device)
    counter = FlopCounterMode(display=False)
    with counter:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    return counter.get_total_flops() > 0


def run_rows(cfgs: Dict[str, Config], iters: int, warmup: int,
             batch_size: int, img_size: Optional[int],
             device: str) -> List[Dict[str, Any]]:
    """One row per non-baseline config: its result and the baseline's, with
    ratios (:func:`ratio_table`)."""
    results = run_benchmark(cfgs, iters, warmup, batch_size, img_size,
                            device)
    table = ratio_table(results)['results']
    return [dict(comparison=f'{row["name"]} vs {table[-1]["name"]}',
                 test=row, baseline=table[-1]) for row in table[:-1]]


class StepTimers:
    """Times the parts of an MST training step by wrapping, on the model
    instance, ``teacher_forward`` and the ``forward`` of its ``masker``,
    ``decoder`` and ``restore_loss`` (a part whose module is ``None`` is not
    wrapped and stays at 0).

    Only the outermost timed call records, so the parts are disjoint
    intervals of the step. The decoder's and the loss's backward run in the
    step's backward and are not in their parts. On CUDA each timed call
    synchronises before and after, so a part does not absorb queued work.
    """

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        self.model = model
        self.cuda = device.startswith('cuda')
        self.totals = {key: 0.0 for key, _ in PARTS}
        self.calls = {key: 0 for key, _ in PARTS}
        self.active = False
        self._depth = 0

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def _timed(self, fn: Callable, key: str) -> Callable:
        def wrapper(*args, **kwargs):
            if not self.active or self._depth:
                self._depth += 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    self._depth -= 1
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

    @contextmanager
    def patched(self) -> Iterator['StepTimers']:
        """Install the wrappers for the duration of the block."""
        model = self.model
        patches = [(model, 'teacher_forward',
                    self._timed(model.teacher_forward, 'teacher'))]
        for key in ('masker', 'decoder', 'restore_loss'):
            module = getattr(model, key)
            if module is not None:
                patches.append((module, 'forward',
                                self._timed(module.forward, key)))
        for obj, name, wrapper in patches:
            setattr(obj, name, wrapper)
        try:
            yield self
        finally:
            for obj, name, _ in patches:
                delattr(obj, name)


def step_breakdown(cfg: Config, batch_size: int, img_size: Optional[int],
                   device: str, iters: int = 5,
                   warmup: int = 2) -> Dict[str, Any]:
    """Time ``iters`` training steps of an MST config after ``warmup``
    untimed ones, and each part of them (:class:`StepTimers`).

    Returns:
        dict: ``step_ms`` (mean step), ``{part}_ms`` (mean per step) and
        ``{part}_share`` of the step for each part of :data:`PARTS`, and
        ``calls_per_step`` (outermost timed calls of each part). Shares are
        of the summed step times; the parts are disjoint, so they sum to at
        most 1.
    """
    # the teacher's CosineEMA reads the schedule's position, as in training
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 0)
    hub.update_info('max_iters', warmup + iters)
    runner = StepRunner('breakdown', cfg, batch_size, img_size, device)
    timers = StepTimers(runner.model, device)
    with timers.patched():
        for _ in range(warmup):
            runner.step(record=False)
        timers.active = True
        for i in range(iters):
            hub.update_info('iter', warmup + i)
            runner.step()
    total = sum(runner.times)
    out: Dict[str, Any] = dict(step_ms=1e3 * total / iters)
    for key, _ in PARTS:
        out[f'{key}_ms'] = 1e3 * timers.totals[key] / iters
        out[f'{key}_share'] = timers.totals[key] / total
    out['calls_per_step'] = {k: n / iters for k, n in timers.calls.items()}
    return out


def format_breakdown(breakdown: Dict[str, Any]) -> str:
    lines = ['| Part of the MST step | ms/step | share |',
             '| :-- | --: | --: |']
    for key, label in PARTS:
        lines.append(f'| {label} | {breakdown[f"{key}_ms"]:.2f} | '
                     f'{100 * breakdown[f"{key}_share"]:.2f}% |')
    lines.append(f'| whole step | {breakdown["step_ms"]:.1f} | 100% |')
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    check_args(args)
    register_all_modules()
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    base = with_local_crops(load_config(args.config), args.num_local)
    precision = 'fp32'
    if base.optim_wrapper.get('type') == 'AmpOptimWrapper':
        precision = 'AMP'
        if not device.startswith('cuda'):
            base = without_amp(base)
            precision = "fp32 (the config's AMP needs CUDA)"
    rows = run_rows(comparison_configs(base), args.iters, args.warmup,
                    args.batch_size, args.img_size, device)
    breakdown = step_breakdown(variant(base), args.batch_size, args.img_size,
                               device, args.iters, args.warmup)

    device_name = (torch.cuda.get_device_name() if device.startswith('cuda')
                   else 'cpu')
    num_global, num_local = view_counts(base)
    print(f'\n{device_name}, batch {args.batch_size}, '
          f'{args.img_size or "config"} px, {num_global} global + '
          f'{num_local} local crops, {precision}, {args.iters} timed steps '
          f'(median), {args.warmup} warm-up\n')
    print(comparison_markdown(rows))
    fused_counted = counts_fused_attention(device)
    if not fused_counted:
        print('\nFLOP counts leave out fused attention '
              f'(scaled_dot_product_attention is not counted on {device}), '
              "except in the teacher's last block when a masker reads its "
              'attention.')
    print(f'\nOne step of {osp.basename(args.config)} ({args.iters} steps '
          f'after {args.warmup} warm-up, mean; share of the step):\n')
    print(format_breakdown(breakdown))
    out = dict(device=device_name, batch_size=args.batch_size,
               img_size=args.img_size, num_local=args.num_local,
               precision=precision, fused_attention_counted=fused_counted,
               rows=rows, breakdown=breakdown)
    report_json(out, args.out)


if __name__ == '__main__':
    main()
