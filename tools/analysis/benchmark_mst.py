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
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmengine.config import Config

from maskssl.analysis import (PartTimers, StepRunner, comparison_markdown,
                              comparison_rows, counts_fused_attention,
                              report_json, time_parts, without_amp)
from maskssl.analysis.breakdown import Patch
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


class StepTimers(PartTimers):
    """Times the parts of an MST training step (:class:`PartTimers`: only
    the outermost timed call records, so the parts are disjoint) by
    wrapping, on the model instance, ``teacher_forward`` and the
    ``forward`` of its ``masker``, ``decoder`` and ``restore_loss`` (a part
    whose module is ``None`` is not wrapped and stays at 0). The decoder's
    and the loss's backward run in the step's backward and are not in their
    parts.
    """

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        super().__init__([key for key, _ in PARTS], device)
        self.model = model

    def patches(self) -> List[Patch]:
        model = self.model
        patches = [(model, 'teacher_forward',
                    self.timed(model.teacher_forward, 'teacher'))]
        for key in ('masker', 'decoder', 'restore_loss'):
            module = getattr(model, key)
            if module is not None:
                patches.append((module, 'forward',
                                self.timed(module.forward, key)))
        return patches


def step_breakdown(cfg: Config, batch_size: int, img_size: Optional[int],
                   device: str, iters: int = 5,
                   warmup: int = 2) -> Dict[str, Any]:
    """Time ``iters`` training steps of an MST config after ``warmup``
    untimed ones, and each part of them (:class:`StepTimers`).

    Returns:
        dict: :func:`~maskssl.analysis.time_parts`'s ``step_ms`` (mean
        step), ``{part}_ms`` (mean per step) and ``{part}_share`` of the
        step for each part of :data:`PARTS`, and ``calls_per_step``
        (outermost timed calls of each part); the shares sum to at most 1.
    """
    runner = StepRunner('breakdown', cfg, batch_size, img_size, device)
    return time_parts(runner, StepTimers(runner.model, device), iters,
                      warmup)


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
    rows = comparison_rows(comparison_configs(base), args.iters,
                           args.warmup, args.batch_size, args.img_size,
                           device)
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
