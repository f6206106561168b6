"""Saliency-guided masking's speed table (configs/saliency_mask/README.md).

Each group of rows runs its configs step by step in one process with the
benchmark harness (``maskssl.analysis.benchmark``), alternating them, and
prints each one's step-time ratio to the group's baseline beside the
training-step FLOP ratio:

- SaliencyMoCoV2 with saliency from the momentum encoder
  (``model.saliency.source=momentum``) vs mmpretrain's MoCo v2;
- SaliencyMoCoV2 with a separate ResNet-50 (``source='pretrained'``, the
  config's localisation network with random weights: ``init_cfg=None``,
  ``allow_random=True``, so nothing downloads) vs mmpretrain's MoCo v2;
- the blur and mean fills vs high-pass (momentum source, ``--fills``);

then the cost breakdown of one SaliencyMoCoV2 step of the config (and of its
momentum-source variant, with each of ``--fills`` too): the share of the step
taken by the saliency pass(es), the masking (the fill's ``sample_mask`` and
``fill`` for the query positive and the hard negative, and
``input_transform`` of both views) and the hard negative's momentum forward,
timed by wrapping the model's methods during real training steps.

Example (one GPU)::

    python tools/analysis/benchmark_saliency.py --batch-size 32 \
        --out work_dirs/bench_saliency.json
"""
import argparse
import copy
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence

import mmpretrain
import torch
from mmengine.config import Config

from maskssl.analysis import (PartTimers, StepRunner, comparison_markdown,
                              comparison_rows, report_json, time_parts)
from maskssl.analysis.breakdown import Patch
from maskssl.launch import load_config
from maskssl.utils import register_all_modules

SALIENCY = ('configs/saliency_mask/'
            'saliency-mocov2-highpass_resnet50_4xb32-coslr-200e_in100.py')
MOCOV2 = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs',
                  'mocov2', 'mocov2_resnet50_8xb32-coslr-200e_in1k.py')
FILLS = {'blur': 'BlurFill', 'mean': 'MeanFill', 'highpass': 'HighPassFill'}
# breakdown parts, in print order: (key, label)
PARTS = [
    ('saliency', 'saliency pass(es)'),
    ('sample_mask', 'masking: fill.sample_mask (positive + hard negative)'),
    ('fill', 'masking: fill.fill (positive + hard negative)'),
    ('input_transform', 'masking: fill.input_transform (both views)'),
    ('hard_negative', 'hard-negative momentum forward'),
    ('key', 'key momentum forward (as in MoCo v2)'),
]
MASKING = ('sample_mask', 'fill', 'input_transform')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=SALIENCY,
                        help='a SaliencyMoCoV2 config with '
                        "source='pretrained' saliency")
    parser.add_argument('--mocov2-config', default=MOCOV2)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--img-size', type=int,
                        help='largest crop (default: the config\'s, 224)')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--fills', nargs='*', default=['blur', 'mean'],
                        choices=[f for f in FILLS if f != 'highpass'],
                        help='fills to compare with high-pass (momentum '
                        'source); none: skip these rows')
    parser.add_argument('--device', help='default: cuda if available')
    parser.add_argument('--out', help='also write the JSON to this file')
    return parser.parse_args()


def momentum_source(cfg: Config) -> Config:
    """A copy of a SaliencyMoCoV2 config with SCDA saliency from the
    momentum encoder (no localisation network)."""
    cfg = copy.deepcopy(cfg)
    cfg.model.saliency = dict(type='SCDASaliency', source='momentum')
    return cfg


def random_network(cfg: Config) -> Config:
    """A copy of a ``source='pretrained'`` SaliencyMoCoV2 config whose
    localisation network has random weights (``init_cfg=None``,
    ``allow_random=True``): same FLOPs, nothing downloaded."""
    cfg = copy.deepcopy(cfg)
    saliency = cfg.model.get('saliency')
    if not saliency or saliency.get('source', 'pretrained') != 'pretrained':
        raise ValueError(
            f'{cfg.filename}: model.saliency={saliency!r}; expected an '
            "SCDASaliency with source='pretrained' and a network")
    saliency.network.init_cfg = None
    saliency.allow_random = True
    return cfg


def with_fill(cfg: Config, fill: str) -> Config:
    """A copy of a config with the fill strategy ``fill`` (a key of
    :data:`FILLS`), keeping its masker and the fill's default settings."""
    cfg = copy.deepcopy(cfg)
    new = dict(type=FILLS[fill])
    if 'masker' in cfg.model.fill:
        new['masker'] = cfg.model.fill.masker
    cfg.model.fill = new
    return cfg


def comparison_groups(base: Config, mocov2: Config,
                      fills: Sequence[str] = ('blur', 'mean')
                      ) -> List[Dict[str, Config]]:
    """The configs timed together, each group alternated step by step with
    its last config as the baseline: the two saliency sources vs MoCo v2,
    then ``fills`` vs high-pass (all with momentum saliency)."""
    groups = [{
        'SaliencyMoCoV2, momentum saliency': momentum_source(base),
        'SaliencyMoCoV2, separate ResNet saliency': random_network(base),
        'MoCo v2': mocov2,
    }]
    if fills:
        momentum = momentum_source(base)
        group = {f'{FILLS[f]} (momentum saliency)': with_fill(momentum, f)
                 for f in fills}
        group['HighPassFill (momentum saliency)'] = with_fill(momentum,
                                                              'highpass')
        groups.append(group)
    return groups


def run_rows(groups: List[Dict[str, Config]], iters: int, warmup: int,
             batch_size: int, img_size: Optional[int],
             device: str) -> List[Dict[str, Any]]:
    """One row per non-baseline config of each group: its result and the
    baseline's, with ratios (:func:`~maskssl.analysis.comparison_rows`)."""
    return [row for cfgs in groups
            for row in comparison_rows(cfgs, iters, warmup, batch_size,
                                       img_size, device)]


class StepTimers(PartTimers):
    """Times the parts of a SaliencyMoCoV2 training step
    (:class:`PartTimers`: only the outermost timed call records, so the
    parts are disjoint) by wrapping, on the model instance,
    ``_momentum_forward``, ``_foreground`` and the fill's
    ``input_transform``, ``sample_mask``, ``fill`` (and ``forward``, only to
    recognise the hard negative: the momentum forward of the output of
    ``fill.forward(..., negative=True)``).

    A momentum forward inside ``_foreground`` (the query's saliency with the
    momentum source) counts as saliency.
    """

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        super().__init__([key for key, _ in PARTS], device)
        self.model = model
        self._negative: Optional[torch.Tensor] = None

    def _fill_forward(self, fn: Callable) -> Callable:
        def wrapper(imgs, foreground, negative=False, generator=None):
            out = fn(imgs, foreground, negative, generator)
            if negative:
                self._negative = out
            return out
        return wrapper

    def _momentum_part(self, imgs, *args, **kwargs) -> str:
        if imgs is self._negative:
            self._negative = None
            return 'hard_negative'
        return 'key'

    def patches(self) -> List[Patch]:
        model, fill = self.model, self.model.fill
        return [
            (model, '_momentum_forward',
             self.timed(model._momentum_forward, self._momentum_part)),
            (model, '_foreground', self.timed(model._foreground,
                                              'saliency')),
            (fill, 'forward', self._fill_forward(fill.forward)),
        ] + [(fill, name, self.timed(getattr(fill, name), name))
             for name in MASKING]


def step_breakdown(cfg: Config, batch_size: int, img_size: Optional[int],
                   device: str, iters: int = 5,
                   warmup: int = 2) -> Dict[str, Any]:
    """Time ``iters`` training steps of a SaliencyMoCoV2 config after
    ``warmup`` untimed ones, and each part of them (:class:`StepTimers`).

    Returns:
        dict: :func:`~maskssl.analysis.time_parts`'s ``step_ms`` (mean
        step), ``{part}_ms`` (mean per step) and ``{part}_share`` of the
        step for each part of :data:`PARTS`, and ``calls_per_step``
        (outermost timed calls of each part), with ``masking_ms`` /
        ``masking_share`` (sample_mask + fill + input_transform). The
        parts are disjoint, so their shares sum to at most 1.
    """
    runner = StepRunner('breakdown', cfg, batch_size, img_size, device)
    out = time_parts(runner, StepTimers(runner.model, device), iters,
                     warmup)
    out['masking_ms'] = sum(out[f'{k}_ms'] for k in MASKING)
    out['masking_share'] = sum(out[f'{k}_share'] for k in MASKING)
    return out


def breakdown_configs(base: Config,
                      fills: Sequence[str] = ('blur', 'mean')
                      ) -> Dict[str, Config]:
    """The configs whose step is broken down: the config (its separate
    network with random weights), its momentum-source variant, and that
    variant with each of ``fills``."""
    cfgs = {'separate ResNet (config)': random_network(base),
            'momentum saliency': momentum_source(base)}
    for fill in fills:
        cfgs[f'momentum, {FILLS[fill]}'] = with_fill(momentum_source(base),
                                                     fill)
    return cfgs


def format_breakdowns(breakdowns: Dict[str, Dict[str, Any]]) -> str:
    names = list(breakdowns)
    lines = ['| Part of the step | ' + ' | '.join(names) + ' |',
             '| :-- |' + ' --: |' * len(names)]

    def cells(key: str) -> str:
        return ' | '.join(
            f'{b[f"{key}_ms"]:.1f} ms ({100 * b[f"{key}_share"]:.1f}%)'
            for b in breakdowns.values())

    for key, label in PARTS:
        lines.append(f'| {label} | {cells(key)} |')
    lines.append(f'| **masking ops in all** | {cells("masking")} |')
    lines.append('| whole step | ' + ' | '.join(
        f'{b["step_ms"]:.1f} ms' for b in breakdowns.values()) + ' |')
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    register_all_modules()
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    base = load_config(args.config)
    mocov2 = load_config(args.mocov2_config)
    mocov2.train_dataloader.batch_size = args.batch_size
    groups = comparison_groups(base, mocov2, args.fills)
    rows = run_rows(groups, args.iters, args.warmup, args.batch_size,
                    args.img_size, device)
    breakdowns = {
        name: step_breakdown(cfg, args.batch_size, args.img_size, device,
                             args.iters, args.warmup)
        for name, cfg in breakdown_configs(base, args.fills).items()}

    device_name = (torch.cuda.get_device_name() if device.startswith('cuda')
                   else 'cpu')
    print(f'\n{device_name}, batch {args.batch_size}, '
          f'{args.img_size or "config"} px, {args.iters} timed steps '
          f'(median), {args.warmup} warm-up\n')
    print(comparison_markdown(rows))
    print(f'\nOne step of {osp.basename(args.config)} and variants '
          f'({args.iters} steps after {args.warmup} warm-up, mean; share of '
          'the step):\n')
    print(format_breakdowns(breakdowns))
    out = dict(device=device_name, batch_size=args.batch_size,
               img_size=args.img_size, rows=rows, breakdown=breakdowns)
    report_json(out, args.out)


if __name__ == '__main__':
    main()
