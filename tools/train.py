"""Train a model (mmpretrain's ``tools/train.py`` with maskssl's checks).

Additions over mmpretrain's script: a clear error for a missing config or
dataset path, a warning for every ``--cfg-options`` key that matches nothing
in the config, CPU runs (``SyncBN`` -> ``BN``; distributed runs over gloo),
one run per work directory (:class:`~maskssl.launch.WorkDirLock`) and a
check of what ``--resume`` resumes before anything trains.
"""
import argparse
import os.path as osp
import sys
import warnings
from typing import Optional

from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from maskssl.launch import (ResumeError, WorkDirLock, WorkDirLockedError,
                            add_launch_args, check_resume, close_dist,
                            describe_missing_resume, fill_dataloader_defaults,
                            is_finished, launch_rank, load_config,
                            parse_launch_args, prepare_launch, resume_source)
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
    parser.add_argument(
        '--require-resume', action='store_true',
        help='with a bare --resume: stop with an error (instead of a warning '
        'and a run from scratch) when the work directory has no checkpoint')
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


def train(cfg, args, stale_lock: Optional[str] = None) -> None:
    """Build the runner, check what ``--resume`` resumes, and train
    (``stale_lock``: the dead run whose work-dir lock was taken over)."""
    prepare_launch(cfg, args.launcher)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    if stale_lock:
        runner.logger.warning(
            f'{cfg.work_dir}: the previous run ({stale_lock}) ended without '
            'releasing its lock (killed?); taking it over')
    if cfg.resume:
        source = resume_source(cfg)
        if source is None:
            message = describe_missing_resume(cfg.work_dir,
                                              args.require_resume)
            if args.require_resume:
                sys.exit(f'error: {message}')
            runner.logger.warning(message)
        else:
            model = runner.model
            try:
                meta = check_resume(
                    source, model.module if is_model_wrapper(model) else model)
            except ResumeError as err:
                sys.exit(f'error: {err}')
            if is_finished(meta, cfg.train_cfg):
                runner.logger.info(
                    f'--resume: {source} is the end of this schedule (epoch '
                    f'{meta.get("epoch")}, iteration {meta.get("iter")}); '
                    'the run is finished, nothing to train')
                return
    runner.train()


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    lock = WorkDirLock(cfg.work_dir)
    stale = None
    if launch_rank() == 0:  # the ranks of one job share rank 0's lock
        try:
            stale = lock.acquire()
        except WorkDirLockedError as err:
            sys.exit(f'error: {err}')
    try:
        train(cfg, args, stale)
        close_dist()
    finally:
        lock.release()


if __name__ == '__main__':
    main()
