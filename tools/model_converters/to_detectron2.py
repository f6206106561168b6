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
from typing import Any, List, Optional, Tuple

from maskssl.checkpoint import (backbone_state, converter_parser,
                                resnet_to_detectron2, run_converter)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = converter_parser(
        'Convert a ResNet backbone to detectron2 weights',
        'training checkpoint or extracted backbone',
        'output detectron2 weights (.pkl)')
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

    def convert() -> Tuple[dict, str]:
        out = resnet_to_detectron2(backbone_state(args.src)[0], args.src)
        return out, f'wrote {len(out["model"])} arrays to {args.dst}'

    run_converter(args, convert, save=dump_pickle)


if __name__ == '__main__':
    main()
