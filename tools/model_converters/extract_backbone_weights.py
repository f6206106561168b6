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
from typing import List, Optional, Tuple

from maskssl.checkpoint import (converter_parser, extract_backbone,
                                read_checkpoint, run_converter)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = converter_parser(
        'Extract the backbone weights of a training checkpoint',
        'raw maskssl training checkpoint (.pth)',
        'output backbone checkpoint (.pth)')
    parser.add_argument(
        '--prefix', default='backbone.',
        help='prefix of the backbone keys (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)

    def convert() -> Tuple[dict, str]:
        out = extract_backbone(read_checkpoint(args.src), args.src,
                               args.prefix)
        return out, (f'wrote {len(out["state_dict"])} backbone tensors to '
                     f'{args.dst}')

    run_converter(args, convert)


if __name__ == '__main__':
    main()
