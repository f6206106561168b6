"""Fault injection: train a config, SIGKILL it at random moments (checkpoint
writes included), resume it each time, and compare the final weights with an
uninterrupted run of the same seed.

Example (MaskDeep's toy config on a 48-scene toy set, as in the README)::

    python tools/dataset_converters/make_toy_dataset.py data/toy_small \\
        --num-train 48 --num-val 16
    python tools/analysis/chaos_train.py \\
        configs/maskdeep/maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py \\
        --kills 5 --work-dir work_dirs/chaos --cfg-options \\
        train_dataloader.dataset.data_root=data/toy_small \\
        train_dataloader.batch_size=8 train_cfg.max_epochs=4

Exits non-zero when a tensor of the two final checkpoints differs by more
than ``--atol``.
"""
import argparse
import shutil
import sys

from maskssl.analysis import chaos_train


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='training config')
    parser.add_argument('--kills', type=int, default=3,
                        help='SIGKILLs to inject (default: %(default)s)')
    parser.add_argument('--work-dir', default='work_dirs/chaos',
                        help='holds reference/, chaos/ and chaos_train.log')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the kill times (not of training)')
    parser.add_argument('--atol', type=float, default=1e-6)
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value overrides passed to tools/train.py')
    args = parser.parse_args()
    if args.kills < 1:
        parser.error(f'--kills {args.kills}: expected at least 1')
    return args


def main() -> None:
    args = parse_args()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    kills, diff, where = chaos_train(args.config, args.work_dir, args.kills,
                                     args.seed, args.cfg_options)
    print(f'{"kill":>4} {"after s":>8} {"during save":>11}  '
          'last_checkpoint after the kill')
    for i, kill in enumerate(kills, 1):
        print(f'{i:>4} {kill.after_s:8.1f} {str(kill.during_save):>11}  '
              f'{kill.last_checkpoint or "none"}')
    print(f'max |chaos - reference| over all tensors: {diff:.3g} '
          f'(at {where}); tolerance {args.atol:g}')
    if diff > args.atol:
        sys.exit('the resumed run differs from the uninterrupted one')
    print('equal: the killed and resumed run reproduces the uninterrupted '
          'one')


if __name__ == '__main__':
    main()
