"""The command line shared by the checkpoint converters in
``tools/model_converters/`` (``extract_backbone_weights.py``,
``to_timm.py``, ``to_torchvision.py``, ``to_detectron2.py``): ``SRC DST
[--force]``, refuse to overwrite SRC, write atomically, one ``error: ...``
line and exit status 1 on bad input."""
import argparse
import sys
from typing import Any, Callable, Tuple

import torch

from .io import check_output_path, save_atomic


def converter_parser(description: str, src_help: str,
                     dst_help: str) -> argparse.ArgumentParser:
    """An argument parser with the positional ``src`` and ``dst`` and
    ``--force``; a converter adds its own options to it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help=dst_help)
    parser.add_argument(
        '--force', action='store_true',
        help='write DST even when it is the same file as SRC')
    return parser


def run_converter(
        args: argparse.Namespace,
        convert: Callable[[], Tuple[Any, str]],
        save: Callable[[Any, str], None] = torch.save) -> None:
    """Check that ``args.dst`` is not ``args.src``, run ``convert`` (which
    reads ``args.src`` and returns the object to save and the line to print
    once it is saved), write the object to ``args.dst`` atomically with
    ``save(obj, path)`` and print the line. An ``OSError`` or ``ValueError``
    exits with ``error: ...`` and leaves ``args.dst`` as it was."""
    try:
        check_output_path(args.src, args.dst, args.force)
        out, done = convert()
        save_atomic(out, args.dst, save=save)
    except (OSError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(done)
