"""MaskDeep's speed table (configs/maskdeep/README.md).

Each row runs two configs step by step in one process with the benchmark
harness (``maskssl.analysis.benchmark``) and prints the step-time ratio beside
the training-step FLOP ratio:

- K = 16 vs K = 1 groups (N = 0): only the predictor grows with K;
- MaskDeep (N = 0) vs mmpretrain's BYOL at the same batch;
- N = 4 vs N = 0 extra target views;
- N = 4 with the extra targets at a lower resolution vs at 224 px;

then the share of the step that the point sampling (index draw and gather,
forward and backward, every online view) takes.

Example (one GPU)::

    python tools/analysis/benchmark_maskdeep.py --batch-size 64 \
        --out work_dirs/bench_maskdeep.json
"""
import argparse
import copy
import os.path as osp
from typing import Dict, List, Optional

import mmpretrain
import torch
from mmengine.config import Config

from maskssl.analysis import (StepRunner, crop_sizes, median_ms,
                              ratio_table, report_json, run_benchmark)
from maskssl.launch import load_config
from maskssl.models.utils import sample_point_groups
from maskssl.utils import register_all_modules

MASKDEEP = 'configs/maskdeep/maskdeep_resnet50_16xb64-coslr-100e_in1k.py'
BYOL = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'byol',
                'byol_resnet50_16xb256-coslr-200e_in1k.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=MASKDEEP)
    parser.add_argument('--byol-config', default=BYOL)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--img-size', type=int,
                        help='largest crop (default: the config\'s, 224)')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--target-sizes', type=int, nargs='*',
                        default=[160, 128],
                        help='extra-target resolutions to compare with the '
                        'config\'s (224)')
    parser.add_argument('--device', help='default: cuda if available')
    parser.add_argument('--out', help='also write the JSON to this file')
    return parser.parse_args()


def variant(cfg: Config,
            num_groups: Optional[int] = None,
            num_targets: Optional[int] = None,
            target_size: Optional[int] = None) -> Config:
    """A copy of a MaskDeep config with K, N or the extra targets' size
    changed (the views are ``pipeline[1]``, a ``MultiViewWithRoles`` whose
    second group holds the 'target' views)."""
    cfg = copy.deepcopy(cfg)
    if num_groups is not None:
        cfg.model.neck.num_groups = num_groups
    views = cfg.train_dataloader.dataset.pipeline[1]
    if views.roles[-1] != 'target':
        raise ValueError(f'{views.type} in pipeline[1] has no target views')
    if num_targets is not None:
        views.num_views = views.num_views[:-1] + [num_targets]
    if target_size is not None:
        for t in views.transforms[-1]:
            if t['type'] == 'RandomResizedCrop':
                t['scale'] = target_size
    return cfg


def target_size(cfg: Config) -> int:
    """The crop size of a MaskDeep config's extra target views."""
    views = cfg.train_dataloader.dataset.pipeline[1]
    return max(crop_sizes(views.transforms[-1]))


def sampling_share(cfg: Config, batch_size: int, img_size: Optional[int],
                   device: str) -> Dict[str, float]:
    """Time of the point sampling of one step (draw and gather, forward and
    backward, for every online view) against the whole step."""
    runner = StepRunner('sampling', cfg, batch_size, img_size, device)
    for _ in range(3):
        runner.step(record=False)
    step_ms = median_ms(lambda: runner.step(record=False), device,
                        reps=10, warmup=5)
    model = runner.model
    data = model.data_preprocessor(copy.deepcopy(runner.batch), True)
    roles = data['data_samples'][0].view_roles
    neck = model.neck
    total = 0.0
    for view, role in zip(data['inputs'], roles):
        if role == 'target':
            continue
        with torch.no_grad():
            levels = neck.forward_levels(model.backbone(view))
        levels = [lvl.detach().requires_grad_() for lvl in levels]

        def sample_and_back() -> None:
            groups = sample_point_groups(levels, neck.num_groups,
                                         neck.num_points)
            groups.backward(torch.ones_like(groups))

        total += median_ms(sample_and_back, device, reps=50, warmup=5)
    return dict(sampling_ms=total, step_ms=step_ms,
                share=total / step_ms)


def main() -> None:
    args = parse_args()
    register_all_modules()
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    base = load_config(args.config)
    byol = load_config(args.byol_config)
    byol.train_dataloader.batch_size = args.batch_size
    pairs: List[tuple] = [
        ('K=16 vs K=1 (N=0)', variant(base, 16, 0), variant(base, 1, 0)),
        ('MaskDeep N=0 vs BYOL', variant(base, num_targets=0), byol),
        ('N=4 vs N=0', variant(base, num_targets=4),
         variant(base, num_targets=0)),
    ] + [(f'N=4, targets at {s} px vs {target_size(base)} px',
          variant(base, num_targets=4, target_size=s),
          variant(base, num_targets=4)) for s in args.target_sizes]
    rows = []
    for name, under_test, baseline in pairs:
        results = run_benchmark({'test': under_test, 'baseline': baseline},
                                args.iters, args.warmup, args.batch_size,
                                args.img_size, device)
        test_row, base_row = ratio_table(results)['results']
        rows.append(dict(comparison=name, test=test_row, baseline=base_row))
    share = sampling_share(base, args.batch_size, args.img_size, device)

    device_name = (torch.cuda.get_device_name() if device.startswith('cuda')
                   else 'cpu')
    print(f'\n{device_name}, batch {args.batch_size}, {args.iters} timed '
          'steps (median)\n')
    print('| Comparison | ms/step | baseline ms/step | peak MB | baseline '
          'peak MB | time ratio | train FLOP ratio | time / FLOP |')
    print('| :-- | --: | --: | --: | --: | --: | --: | --: |')
    for row in rows:
        t, b = row['test'], row['baseline']
        mem = [f'{m:.0f}' if m is not None else 'n/a'
               for m in (t['peak_mem_mb'], b['peak_mem_mb'])]
        print(f'| {row["comparison"]} | {t["ms_per_step"]:.1f} | '
              f'{b["ms_per_step"]:.1f} | {mem[0]} | {mem[1]} | '
              f'{t["time_ratio"]:.3f} | {t["flop_ratio"]:.3f} | '
              f'{t["time_over_flop"]:.3f} |')
    print(f'\npoint sampling (draw + gather, fwd + bwd, all online views): '
          f'{share["sampling_ms"]:.2f} ms of a {share["step_ms"]:.1f} ms '
          f'step = {100 * share["share"]:.2f}%')
    out = dict(device=device_name, batch_size=args.batch_size, rows=rows,
               sampling=share)
    report_json(out, args.out)


if __name__ == '__main__':
    main()
