"""Convert a maskssl ResNet backbone to a torchvision ResNet state dict.

Accepts a raw training checkpoint (its ``backbone.*`` keys) or an extracted
backbone. mmpretrain's ``ResNet`` uses torchvision's names, so the tensors are
kept as they are (``num_batches_tracked`` included) after checking that they
form exactly a torchvision ``resnet{18,34,50,101,152}`` without ``fc`` (depth
detected from the keys; shapes compared). The output is a plain state dict
without the classifier: load it with ``strict=False`` (``fc.weight`` and
``fc.bias`` are then reported missing) or replace ``model.fc`` first.
mmpretrain's ``style='caffe'`` (stride in the first 1x1 conv) has the same
keys but is not torchvision's layout; maskssl's configs use ``'pytorch'``.

Example::

    python tools/model_converters/to_torchvision.py \\
        work_dirs/maskdeep_r50/epoch_200.pth maskdeep_r50_torchvision.pth

    model = torchvision.models.resnet50(weights=None)
    model.load_state_dict(torch.load('maskdeep_r50_torchvision.pth'),
                          strict=False)
"""
import argparse
from typing import List, Optional, Tuple

from maskssl.checkpoint import (backbone_state, check_torchvision_resnet,
                                converter_parser, run_converter)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    return converter_parser(
        'Convert a ResNet backbone to a torchvision state dict',
        'training checkpoint or extracted backbone',
        'output torchvision state dict (.pth)').parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)

    def convert() -> Tuple[dict, str]:
        state, _ = backbone_state(args.src)
        depth = check_torchvision_resnet(state, args.src)
        return state, (f'resnet{depth}: wrote {len(state)} tensors to '
                       f'{args.dst}')

    run_converter(args, convert)


if __name__ == '__main__':
    main()
