"""Extract the online backbone of a maskssl training checkpoint.

Keeps the ``backbone.*`` tensors of the online network (not the momentum
``target_net.*`` copy, the neck or the head), strips the prefix and keeps
``meta`` (plus ``extracted_from`` and ``extracted_prefix``). The result loads
into an mmpretrain / mmdet / mmseg backbone with
``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` (no ``prefix``).

Example::

    python tools/model_converters/extract_backbone_weights.py \\
        work_dirs/maskdeep_r50/epoch_200.pth maskdeep_r50_backbone.pth
"""
import argparse
import sys
from typing import List, Optional

from maskssl.checkpoint import (check_output_path, extract_backbone,
                                read_checkpoint, save_atomic)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract the backbone weights of a training checkpoint')
    parser.add_argument('src', help='raw maskssl training checkpoint (.pth)')
    parser.add_argument('dst', help='output backbone checkpoint (.pth)')
    parser.add_argument(
        '--prefix', default='backbone.',
        help='prefix of the backbone keys (default: %(default)s)')
    parser.add_argument(
        '--force', action='store_true',
        help='write DST even when it is the same file as SRC')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        check_output_path(args.src, args.dst, args.force)
        out = extract_backbone(read_checkpoint(args.src), args.src,
                               args.prefix)
        save_atomic(out, args.dst)
    except (OSError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(f'wrote {len(out["state_dict"])} backbone tensors to {args.dst}')


if __name__ == '__main__':
    main()
