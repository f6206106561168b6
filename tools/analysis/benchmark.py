"""Benchmark training steps of a config against a baseline config.

Example::

    python tools/analysis/benchmark.py CONFIG --baseline BASELINE_CONFIG \
        --iters 20 --batch-size 32 --img-size 224 --out bench.json

Prints ms/step, img/s, peak memory, forward and training-step GFLOPs per image
(one multiply-add = one FLOP) and the step-time ratio beside the training-step
FLOP ratio, as a table and as JSON.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from maskssl.analysis import (format_table, ratio_table, report_json,
                              run_benchmark)
from maskssl.launch import load_config
from maskssl.utils import register_all_modules
from maskssl.utils.arg_checks import check_int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark training steps')
    parser.add_argument('config', help='config under test')
    parser.add_argument('--baseline', help='baseline config (same process)')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--img-size', type=int,
                        help='largest crop size (default: the config\'s)')
    parser.add_argument('--device', help='default: cuda if available')
    parser.add_argument('--out', help='also write the JSON to this file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to the config under test')
    return parser.parse_args()


def check_args(args: argparse.Namespace) -> None:
    """Refuse step counts and sizes that measure nothing, naming the
    option, before any config is loaded (``--warmup 0`` is allowed)."""
    for option, minimum in (('iters', 1), ('warmup', 0), ('batch_size', 1),
                            ('img_size', 1)):
        value = getattr(args, option)
        if value is not None:
            check_int(value, '--' + option.replace('_', '-'), minimum,
                      owner='benchmark.py')


def main() -> None:
    args = parse_args()
    check_args(args)
    register_all_modules()
    cfgs = {osp.basename(args.config): load_config(args.config,
                                                    args.cfg_options)}
    if args.baseline:
        cfgs['baseline:' + osp.basename(args.baseline)] = load_config(
            args.baseline)
    results = run_benchmark(cfgs, args.iters, args.warmup, args.batch_size,
                            args.img_size, args.device)
    table = ratio_table(results)
    print(format_table(table))
    report_json(table, args.out)


if __name__ == '__main__':
    main()
