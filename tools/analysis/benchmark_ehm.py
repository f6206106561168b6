"""EHM's speed table (Evolved Hierarchical Masking, issue 13, "Speed").

The EHM-MAE training step (``EHMMAE`` with ``TokenMaskMAEViT`` and
``EvolvedHierarchicalMasker`` at ratio 0.75) against mmpretrain's MAE step
(``MAE`` with ``MAEViT``: the same encoder, decoder and head, MAE's random
mask), for each ``L = attention_layers`` in ``--layers``, all timed step by
step in one process with the benchmark harness
(``maskssl.analysis.benchmark``, alternating them), each with its step-time
ratio to MAE beside its training-step FLOP ratio.

Then, for each ``L``, the split of one EHM-MAE step (timed by wrapping the
functions during real training steps, :mod:`maskssl.analysis.breakdown`):

- the attention pass (``backbone.attention``: a no-grad, eval-mode pass of
  all patch tokens and the class token through the first ``L`` blocks,
  EHM Sec. V-E), with its FLOPs per image beside MAE's training step;
- the tree build (``hierarchy.build_hierarchy``, Sec. IV-A, Eqs. 6-13);
- the mask generation, the rest of the masker (its ``mask_tree``:
  ``masking_depth``, ``parts_at_depth``, ``random_leaf_order``,
  ``evolved_mask``; Sec. IV-B, Eqs. 14-17);
- the rest of the step (patch embedding, averaging the attention into the
  guidance, encoder on the visible tokens, decoder, loss, backward,
  optimiser step).

Last, the tree build alone on ``--tree-batch`` images (64: the acceptance
asks for under 5% of a ViT-B MAE step at batch 64), from the guidance of the
EHM model's own attention pass, against one MAE step at that batch.

Both models start from the MAE config (default: mmpretrain's ViT-B/16 MAE,
224 px); ``--arch``, ``--decoder``, ``--img-size`` and ``--patch-size``
shrink it. Its AMP (``AmpOptimWrapper``, CUDA only in mmengine) becomes a
plain fp32 ``OptimWrapper`` on CPU.

Example (CPU, 1 thread)::

    OMP_NUM_THREADS=1 python tools/analysis/benchmark_ehm.py \
        --batch-size 16 --steps 3 --warmup 1 --out work_dirs/bench_ehm.json
"""
import argparse
import copy
import os.path as osp
import statistics
from typing import Any, Dict, List, Optional, Sequence, Tuple

import mmpretrain
import torch
from mmengine.config import Config
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.analysis import (PartTimers, StepRunner, comparison_markdown,
                              comparison_rows, counts_fused_attention,
                              flop_counter, median_ms, report_json,
                              synthetic_batch, time_parts, without_amp)
from maskssl.analysis.breakdown import Patch
from maskssl.launch import load_config
from maskssl.models.algorithms.token_masker_host import masker_guidance
from maskssl.models.maskers import evolved_hierarchical_masker
from maskssl.utils import register_all_modules
from maskssl.utils.arg_checks import check_int
from maskssl.utils.init_weights import init_weights_quietly

TOOL = 'benchmark_ehm.py'
MAE = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'mae',
               'mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
MAE_NAME = 'MAE (MAEViT, random mask)'
# breakdown parts, in print order: (key, label)
PARTS = [
    ('attention', 'attention pass (backbone.attention: no grad, all tokens, '
     'first L blocks; Sec. V-E)'),
    ('tree', 'tree build (hierarchy.build_hierarchy, Eqs. 6-13)'),
    ('mask_generation', 'mask generation (masker.mask_tree: cut, leaf '
     'order, parts to mask; Eqs. 14-17)'),
]
# the acceptance bound on the tree build, a fraction of an MAE step
TREE_TARGET = 0.05


def ehm_name(num_layers: int) -> str:
    """The row name of EHM-MAE with attention from ``num_layers`` blocks."""
    return f'EHM-MAE, L={num_layers}'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=MAE,
                        help="an MAE config (MAE + MAEViT); default: "
                        "mmpretrain's ViT-B/16")
    parser.add_argument('--arch', default='b',
                        help="the ViT: a name of mmpretrain's "
                        "VisionTransformer.arch_zoo ('b' = ViT-B) or "
                        "'D-L-H' (embed dims, blocks, heads), e.g. 32-2-2")
    parser.add_argument('--decoder',
                        help="MAE's decoder as 'D-L-H' (default: the "
                        "config's, 512-8-16)")
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--steps', type=int, default=10,
                        help='timed steps per model (median; mean in the '
                        'breakdown)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--layers', type=int, nargs='+', default=[2, 4, 6],
                        help='values of L = attention_layers')
    parser.add_argument('--tree-batch', type=int, default=64,
                        help='batch of the separate tree-build measurement')
    parser.add_argument('--tree-steps', type=int, default=3,
                        help='timed MAE steps at --tree-batch (median), '
                        'unless it equals --batch-size')
    parser.add_argument('--tree-warmup', type=int, default=1,
                        help='untimed MAE steps at --tree-batch first')
    parser.add_argument('--tree-reps', type=int, default=5,
                        help='timed tree builds (median)')
    parser.add_argument('--device', help='default: cuda if available')
    parser.add_argument('--out', '--json', dest='out',
                        help='also write the JSON to this file')
    return parser.parse_args(argv)


def parse_dims(spec: str, option: str) -> Tuple[int, int, int]:
    """``'D-L-H'`` -> ``(D, L, H)``: embed dims, blocks and heads, each a
    positive int, ``D`` divisible by ``H``."""
    parts = spec.split('-')
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0
                                  for p in parts):
        raise ValueError(f"{TOOL}: {option}={spec!r}; expected 'D-L-H' "
                         "(embed dims, blocks, heads; positive ints), e.g. "
                         "'32-2-2'")
    dims, layers, heads = (int(p) for p in parts)
    if dims % heads:
        raise ValueError(f'{TOOL}: {option}={spec!r}; the {dims} embed dims '
                         f'do not split into {heads} heads')
    return dims, layers, heads


def arch_settings(arch: str) -> Dict[str, int]:
    """The ViT of ``--arch``: ``embed_dims``, ``num_layers``, ``num_heads``
    and ``feedforward_channels`` of a name of mmpretrain's
    ``VisionTransformer.arch_zoo``, or of ``'D-L-H'`` (feed-forward
    ``4 D``, as ViT-B's)."""
    if arch in VisionTransformer.arch_zoo:
        return dict(VisionTransformer.arch_zoo[arch])
    if not any(c.isdigit() for c in arch):
        raise ValueError(
            f"{TOOL}: --arch={arch!r}; expected a name of mmpretrain's "
            f"VisionTransformer.arch_zoo (e.g. 'b', 'l', 'deit-tiny') or "
            "'D-L-H' such as '32-2-2'")
    dims, layers, heads = parse_dims(arch, '--arch')
    return dict(embed_dims=dims, num_layers=layers, num_heads=heads,
                feedforward_channels=4 * dims)


def check_args(args: argparse.Namespace) -> None:
    """Refuse counts and sizes that measure nothing and an ``L`` beyond the
    ViT's blocks, naming the option, before any model is built."""
    for option, minimum in (('steps', 1), ('warmup', 0), ('batch_size', 1),
                            ('img_size', 1), ('patch_size', 1),
                            ('tree_batch', 1), ('tree_steps', 1),
                            ('tree_warmup', 0), ('tree_reps', 1)):
        check_int(getattr(args, option), '--' + option.replace('_', '-'),
                  minimum, owner=TOOL)
    if args.img_size % args.patch_size:
        raise ValueError(f'{TOOL}: --img-size={args.img_size} is not a '
                         f'multiple of --patch-size={args.patch_size}')
    num_blocks = arch_settings(args.arch)['num_layers']
    for num_layers in args.layers:
        check_int(num_layers, '--layers', 1, owner=TOOL)
        if num_layers > num_blocks:
            raise ValueError(
                f'{TOOL}: --layers {num_layers}: L is the number of blocks '
                f'the attention pass runs through, but --arch={args.arch} '
                f'has {num_blocks}; expected L <= {num_blocks}')
    if args.decoder is not None:
        parse_dims(args.decoder, '--decoder')


def mae_config(base: Config, arch: str = 'b', img_size: int = 224,
               patch_size: int = 16, decoder: Optional[str] = None) -> Config:
    """A copy of an MAE config (``MAE`` + ``MAEViT``) with the ViT of
    ``arch`` (:func:`arch_settings`) on ``img_size`` images cut into
    ``patch_size`` patches, the decoder and head sized to match, and the
    decoder of ``decoder`` (``'D-L-H'``) where given."""
    model = base.model
    if model.get('type') != 'MAE' or \
            model.get('backbone', {}).get('type') != 'MAEViT':
        raise ValueError(
            f'{base.filename}: model.type={model.get("type")!r}, backbone '
            f'{model.get("backbone", {}).get("type")!r}; expected an MAE '
            "config with an MAEViT backbone, e.g. mmpretrain's "
            'mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')
    cfg = copy.deepcopy(base)
    settings = arch_settings(arch)
    model = cfg.model
    model.backbone.update(arch=settings, img_size=img_size,
                          patch_size=patch_size)
    model.neck.update(num_patches=(img_size // patch_size)**2,
                      patch_size=patch_size,
                      embed_dim=settings['embed_dims'])
    if decoder is not None:
        dims, layers, heads = parse_dims(decoder, '--decoder')
        model.neck.update(decoder_embed_dim=dims, decoder_depth=layers,
                          decoder_num_heads=heads)
    model.head.patch_size = patch_size
    return cfg


def ehm_config(mae: Config, num_layers: int) -> Config:
    """A copy of an MAE config (:func:`mae_config`) as EHM-MAE: ``EHMMAE``
    with ``TokenMaskMAEViT`` (the same weights and decoder) and
    ``EvolvedHierarchicalMasker`` at MAE's mask ratio, its guidance from the
    first ``num_layers`` blocks."""
    cfg = copy.deepcopy(mae)
    model = cfg.model
    model.type = 'EHMMAE'
    model.backbone.type = 'TokenMaskMAEViT'
    model.masker = dict(type='EvolvedHierarchicalMasker',
                        mask_ratio=model.backbone.get('mask_ratio', 0.75))
    model.attention_layers = num_layers
    return cfg


def comparison_configs(mae: Config,
                       layers: Sequence[int]) -> Dict[str, Config]:
    """The configs timed together, alternated step by step: EHM-MAE for each
    ``L`` in ``layers``, then MAE (the baseline, last)."""
    cfgs = {ehm_name(n): ehm_config(mae, n) for n in layers}
    cfgs[MAE_NAME] = mae
    return cfgs


class EHMStepTimers(PartTimers):
    """Times the parts of an EHM-MAE training step (:data:`PARTS`) by
    wrapping, on the instances, the backbone's ``attention`` and the
    masker's ``mask_tree`` (everything the masker does after building the
    trees), and ``build_hierarchy`` in the masker's module."""

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        super().__init__([key for key, _ in PARTS], device)
        self.model = model

    def patches(self) -> List[Patch]:
        backbone, masker = self.model.backbone, self.model.masker
        module = evolved_hierarchical_masker
        return [
            (backbone, 'attention', self.timed(backbone.attention,
                                               'attention')),
            (module, 'build_hierarchy', self.timed(module.build_hierarchy,
                                                   'tree')),
            (masker, 'mask_tree', self.timed(masker.mask_tree,
                                             'mask_generation')),
        ]


def patch_tokens(model: torch.nn.Module,
                 batch: dict) -> Tuple[Tensor, Tuple[int, int]]:
    """The EHM-MAE model's patch tokens ``(B, N, C)`` and grid ``(h, w)`` of
    a collated batch (``data_preprocessor``, then ``backbone.embed``), as
    its training step computes them, without gradient."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    with torch.no_grad():
        return model.backbone.embed(data['inputs'])


def attention_pass_gflops(model: torch.nn.Module, batch: dict,
                          num_layers: int) -> float:
    """Multiply-adds (GFLOPs as the harness counts them) of the attention
    pass through ``num_layers`` blocks, per image of ``batch``: written out
    as matmuls, so every one is counted, fused attention or not."""
    tokens, _ = patch_tokens(model, batch)
    counter = flop_counter()
    with counter:
        model.backbone.attention(tokens, num_layers)
    return counter.get_total_flops() / 2 / tokens.shape[0] / 1e9


def step_breakdown(cfg: Config, batch_size: int, img_size: Optional[int],
                   device: str, iters: int = 5,
                   warmup: int = 2) -> Dict[str, Any]:
    """Time ``iters`` training steps of an EHM-MAE config after ``warmup``
    untimed ones, and each part of them (:class:`EHMStepTimers`).

    Returns:
        dict: :func:`~maskssl.analysis.time_parts`'s ``step_ms`` (mean
        step), ``{part}_ms`` and ``{part}_share`` of the step for each part
        of :data:`PARTS` and ``calls_per_step``, with ``rest_ms`` /
        ``rest_share`` (the step less the parts) and
        ``attention_gflops_per_img`` (:func:`attention_pass_gflops`).
    """
    runner = StepRunner('breakdown', cfg, batch_size, img_size, device)
    out = time_parts(runner, EHMStepTimers(runner.model, device), iters,
                     warmup)
    out['rest_ms'] = out['step_ms'] - sum(out[f'{k}_ms'] for k, _ in PARTS)
    out['rest_share'] = 1 - sum(out[f'{k}_share'] for k, _ in PARTS)
    out['attention_gflops_per_img'] = attention_pass_gflops(
        runner.model, runner.batch, cfg.model.attention_layers)
    return out


def tree_build(cfg: Config, batch_size: int, img_size: Optional[int],
               device: str, reps: int = 5) -> Dict[str, Any]:
    """The masker's time on one batch of ``batch_size`` images: the tree
    build (``build_hierarchy``) and the whole masker call (tree and mask
    generation), median of ``reps`` after one untimed, on the guidance of
    the EHM-MAE config's own (freshly initialised) attention pass over a
    synthetic batch.

    Returns:
        dict: ``batch_size``, ``num_patches`` (``N``), ``tree_ms`` and
        ``masker_ms``.
    """
    model = MODELS.build(copy.deepcopy(cfg.model))
    init_weights_quietly(model)
    model = model.to(device).train()
    batch = synthetic_batch(cfg, batch_size, img_size)
    tokens, grid = patch_tokens(model, batch)
    guidance = masker_guidance(model.backbone, tokens, model.attention_layers,
                               model.masker.guidance)
    build = evolved_hierarchical_masker.build_hierarchy
    return dict(
        batch_size=batch_size, num_patches=tokens.shape[1],
        tree_ms=median_ms(lambda: build(guidance), device, reps),
        masker_ms=median_ms(lambda: model.masker(batch_size, grid, guidance),
                            device, reps))


def mae_step_ms(cfg: Config, batch_size: int, img_size: Optional[int],
                device: str, iters: int, warmup: int) -> float:
    """Median time in ms of ``iters`` MAE training steps after ``warmup``
    untimed ones."""
    runner = StepRunner('mae', cfg, batch_size, img_size, device)
    for _ in range(warmup):
        runner.step(record=False)
    for _ in range(iters):
        runner.step()
    return 1e3 * statistics.median(runner.times)


def format_breakdowns(breakdowns: Dict[int, Dict[str, Any]],
                      mae_train_gflops: float) -> str:
    """The per-``L`` breakdown as a markdown table, with the attention
    pass's FLOPs per image against MAE's training step."""
    lines = ['| Part of the EHM-MAE step | ' + ' | '.join(
        f'L={n}' for n in breakdowns) + ' |',
        '| :-- |' + ' --: |' * len(breakdowns)]

    def cells(key: str) -> str:
        return ' | '.join(
            f'{b[f"{key}_ms"]:.1f} ms ({100 * b[f"{key}_share"]:.2f}%)'
            for b in breakdowns.values())

    for key, label in PARTS:
        lines.append(f'| {label} | {cells(key)} |')
    lines.append('| rest of the step (embedding, guidance averaging, '
                 'encoder on visible tokens, decoder, loss, backward, '
                 f'optimizer) | {cells("rest")} |')
    lines.append('| whole step | ' + ' | '.join(
        f'{b["step_ms"]:.1f} ms' for b in breakdowns.values()) + ' |')
    flops = [b['attention_gflops_per_img'] for b in breakdowns.values()]
    lines.append('| attention pass GFLOPs/img (added to MAE\'s training '
                 'step) | ' + ' | '.join(
                     f'{g:.4g} (+{100 * g / mae_train_gflops:.1f}%)'
                     for g in flops) + ' |')
    return '\n'.join(lines)


def format_tree(tree: Dict[str, Any]) -> str:
    verdict = 'under' if tree['tree_share'] < TREE_TARGET else 'NOT under'
    return (f'Tree build, batch {tree["batch_size"]}, N = '
            f'{tree["num_patches"]}: {tree["tree_ms"]:.1f} ms = '
            f'{100 * tree["tree_share"]:.2f}% of one MAE step at batch '
            f'{tree["batch_size"]} ({tree["mae_step_ms"]:.0f} ms); '
            f'{verdict} the {100 * TREE_TARGET:.0f}% target. Whole masker '
            f'(tree + mask generation): {tree["masker_ms"]:.1f} ms = '
            f'{100 * tree["masker_share"]:.2f}%.')


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    check_args(args)
    register_all_modules()
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    mae = mae_config(load_config(args.config), args.arch, args.img_size,
                     args.patch_size, args.decoder)
    precision = 'fp32'
    if mae.optim_wrapper.get('type') == 'AmpOptimWrapper':
        precision = 'AMP'
        if not device.startswith('cuda'):
            mae = without_amp(mae)
            precision = "fp32 (the config's AMP needs CUDA)"
    rows = comparison_rows(comparison_configs(mae, args.layers), args.steps,
                           args.warmup, args.batch_size, args.img_size,
                           device)
    mae_result = rows[0]['baseline']
    breakdowns = {n: step_breakdown(ehm_config(mae, n), args.batch_size,
                                    args.img_size, device, args.steps,
                                    args.warmup)
                  for n in args.layers}
    tree = tree_build(ehm_config(mae, max(args.layers)), args.tree_batch,
                      args.img_size, device, args.tree_reps)
    if args.tree_batch == args.batch_size:
        tree['mae_step_ms'] = mae_result['ms_per_step']
    else:
        tree['mae_step_ms'] = mae_step_ms(mae, args.tree_batch,
                                          args.img_size, device,
                                          args.tree_steps,
                                          args.tree_warmup)
    tree['tree_share'] = tree['tree_ms'] / tree['mae_step_ms']
    tree['masker_share'] = tree['masker_ms'] / tree['mae_step_ms']

    device_name = (torch.cuda.get_device_name() if device.startswith('cuda')
                   else f'cpu, {torch.get_num_threads()} thread(s)')
    vit = arch_settings(args.arch)
    num_patches = (args.img_size // args.patch_size)**2
    print(f'\n{device_name}, ViT --arch {args.arch} ({vit["embed_dims"]}-d, '
          f'{vit["num_layers"]} blocks, {vit["num_heads"]} heads), '
          f'{args.img_size} px, patch {args.patch_size} (N = {num_patches}),'
          f' batch {args.batch_size}, {precision}, {args.steps} timed steps '
          f'(median), {args.warmup} warm-up\n')
    print(comparison_markdown(rows))
    fused_counted = counts_fused_attention(device)
    if not fused_counted:
        print('\nFLOP counts leave out fused attention '
              f'(scaled_dot_product_attention is not counted on {device}): '
              "MAE's and EHM's encoder and decoder attention matmuls are "
              "missing, EHM's attention pass (written out to return its "
              'weights) is counted, so the FLOP ratios are slightly high.')
    print(f'\nOne EHM-MAE step ({args.steps} steps after {args.warmup} '
          'warm-up, mean; share of the step):\n')
    print(format_breakdowns(breakdowns, mae_result['train_gflops_per_img']))
    deepest = breakdowns[max(args.layers)]
    attention = deepest['attention_gflops_per_img']
    mae_flops = mae_result['train_gflops_per_img']
    print(f'\nAttention pass at L={max(args.layers)}: {attention:.4g} '
          f'GFLOPs/img, +{100 * attention / mae_flops:.1f}% of an MAE '
          f'training step by FLOPs ({mae_flops:.4g} GFLOPs/img) and '
          f'{100 * deepest["attention_share"]:.1f}% of the EHM step by time '
          '(the issue expects about +30% by FLOPs at L=6 on ViT-B; the '
          'paper reports 8.1% in total).')
    print('\n' + format_tree(tree))
    out = dict(device=device_name, arch=args.arch, vit=vit,
               img_size=args.img_size, patch_size=args.patch_size,
               batch_size=args.batch_size, steps=args.steps,
               warmup=args.warmup, precision=precision,
               fused_attention_counted=fused_counted, rows=rows,
               breakdown={str(n): b for n, b in breakdowns.items()},
               tree=tree)
    report_json(out, args.out)
    return out


if __name__ == '__main__':
    main()
