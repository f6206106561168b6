"""Generate maskssl's embedded toy dataset (classification, COCO, VOC, ADE20K).

Example::

    python tools/dataset_converters/make_toy_dataset.py data/toy
"""
import argparse
import json
import os.path as osp

from maskssl.datasets import write_toy_dataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', nargs='?', default='data/toy',
                        help='dataset root (default: data/toy)')
    parser.add_argument('--num-train', type=int, default=2000)
    parser.add_argument('--num-val', type=int, default=500)
    parser.add_argument('--min-size', type=int, default=64)
    parser.add_argument('--max-size', type=int, default=96)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the same dataset exists')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    kwargs = dict(num_train=args.num_train, num_val=args.num_val,
                  min_size=args.min_size, max_size=args.max_size,
                  seed=args.seed)
    stamp = osp.join(args.out_dir, 'meta', 'toy_dataset.json')
    if not args.force and osp.exists(stamp):
        with open(stamp) as f:
            existing = json.load(f)
        if all(existing.get(k) == v for k, v in kwargs.items()):
            print(f'toy dataset already in {args.out_dir}')
            return
    write_toy_dataset(args.out_dir, **kwargs)
    print(f'wrote {args.num_train} train and {args.num_val} val scenes '
          f'to {args.out_dir}')


if __name__ == '__main__':
    main()
