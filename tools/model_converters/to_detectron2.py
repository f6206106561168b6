"""Convert a maskssl ResNet backbone to detectron2 weights (``.pkl``).

Accepts a raw training checkpoint (its ``backbone.*`` keys) or an extracted
backbone, checks that it is a torchvision-style ResNet and renames it as
detectron2's ``convert-torchvision-to-d2.py`` does (``conv1``/``bn1`` ->
``stem.conv1``/``stem.conv1.norm``, ``layer{t}`` -> ``res{t+1}``, ``bn{t}`` ->
``conv{t}.norm``, ``downsample.0``/``.1`` -> ``shortcut``/``shortcut.norm``;
``num_batches_tracked`` dropped). Train detectron2 with the torchvision
layout and maskssl's RGB normalisation::

    MODEL.WEIGHTS OUT.pkl  MODEL.RESNETS.STRIDE_IN_1X1 False  INPUT.FORMAT RGB
    MODEL.PIXEL_MEAN [123.675,116.280,103.530]
    MODEL.PIXEL_STD [58.395,57.120,57.375]
    (ResNet-18/34: MODEL.RESNETS.RES2_OUT_CHANNELS 64)

Example::

    python tools/model_converters/to_detectron2.py \\
        work_dirs/maskdeep_r50/epoch_200.pth maskdeep_r50_d2.pkl
"""
import argparse
import pickle
import sys
from typing import Any, List, Optional

from maskssl.checkpoint import (backbone_state, check_output_path,
                                resnet_to_detectron2, save_atomic)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a ResNet backbone to detectron2 weights')
    parser.add_argument('src',
                        help='training checkpoint or extracted backbone')
    parser.add_argument('dst', help='output detectron2 weights (.pkl)')
    parser.add_argument(
        '--force', action='store_true',
        help='write DST even when it is the same file as SRC')
    args = parser.parse_args(argv)
    if not args.dst.endswith('.pkl'):
        parser.error(f'{args.dst}: the output must end with .pkl (detectron2 '
                     'reads only .pkl files as pickled numpy weights)')
    return args


def dump_pickle(obj: Any, filename: str) -> None:
    """Pickle ``obj`` into ``filename``."""
    with open(filename, 'wb') as f:
        pickle.dump(obj, f)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        check_output_path(args.src, args.dst, args.force)
        state, _ = backbone_state(args.src)
        out = resnet_to_detectron2(state, args.src)
        save_atomic(out, args.dst, save=dump_pickle)
    except (OSError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(f'wrote {len(out["model"])} arrays to {args.dst}')


if __name__ == '__main__':
    main()
