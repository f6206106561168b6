"""Train a model (mmpretrain's ``tools/train.py`` with maskssl's checks).

Additions over mmpretrain's script: a clear error for a missing config or
dataset path, a warning for every ``--cfg-options`` key that matches nothing
in the config, and CPU runs (``SyncBN`` -> ``BN``; distributed runs over gloo).
"""
import argparse
import os.path as osp
import warnings

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from maskssl.launch import (add_launch_args, fill_dataloader_defaults,
                            load_config, parse_launch_args, prepare_launch)
from maskssl.utils import register_all_modules

# mmcv warns on every ColorJitter saturation step of the pillow backend, once
# per dataloader worker and epoch, that it uses only `alpha`, which is what
# the transform asks for.
warnings.filterwarnings('ignore', message="Only use 'alpha' for pillow")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a path, from the '
        'latest checkpoint in the work directory')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the actual / the base batch size')
    parser.add_argument('--no-pin-memory', action='store_true',
                        help='disable pin_memory in the dataloaders')
    parser.add_argument('--no-persistent-workers', action='store_true',
                        help='disable persistent_workers in the dataloaders')
    add_launch_args(parser)
    return parse_launch_args(parser)


def merge_args(cfg, args):
    """Merge the command line into the config, as mmpretrain does."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume: checkpoint "{args.resume}" does not exist')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(f'--auto-scale-lr: {args.config} has no '
                           '`auto_scale_lr = dict(base_batch_size=...)`')
        cfg.auto_scale_lr.enable = True

    fill_dataloader_defaults(cfg, pin_memory=not args.no_pin_memory,
                             persistent_workers=not args.no_persistent_workers)
    return cfg


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    prepare_launch(cfg, args.launcher)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
