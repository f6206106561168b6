"""Test (evaluate) a checkpoint with a config's test loop and evaluator."""
import argparse
import json
import os.path as osp

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from maskssl.launch import (add_launch_args, close_dist,
                            fill_dataloader_defaults, load_config,
                            parse_launch_args, prepare_launch)
from maskssl.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    parser.add_argument('--out', help='dump the metrics to this json file')
    add_launch_args(parser)
    return parse_launch_args(parser)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint "{args.checkpoint}" does not exist')
    cfg = load_config(args.config, args.cfg_options)
    if cfg.get('test_dataloader') is None:
        raise KeyError(f'{args.config} has no test_dataloader; pretraining '
                       'configs are evaluated with tools/benchmarks/')
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    fill_dataloader_defaults(cfg)
    prepare_launch(cfg, args.launcher, loaders=('test_dataloader', ))
    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg else
              Runner.from_cfg(cfg))
    metrics = runner.test()
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)
    close_dist()


if __name__ == '__main__':
    main()
