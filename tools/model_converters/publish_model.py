"""Publish a checkpoint: keep only ``meta`` and ``state_dict``, name it
``{OUT_NAME}_{YYYYMMDD}-{sha256[:8]}.pth`` (as mmpretrain's
``publish_model.py`` does; ``.pth`` is stripped from OUT_NAME first).

The optimizer, parameter schedulers, message hub and anything else are
dropped; the state dict is kept whole, so the file still loads into the full
model config (``load_from``) or, with ``prefix='backbone.'``, into a backbone.
The hash is that of the written file's bytes.

Example::

    python tools/model_converters/publish_model.py \\
        work_dirs/maskdeep_r50/epoch_200.pth maskdeep_r50_8xb64-200e_in1k.pth
    # -> maskdeep_r50_8xb64-200e_in1k_20240101-0123abcd.pth
"""
import argparse
import datetime
import hashlib
import io
import sys
from typing import List, Optional

import torch

from maskssl.checkpoint import (check_output_path, publish_checkpoint,
                                published_name, read_checkpoint,
                                save_atomic, write_file)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Strip a checkpoint for release and hash its name')
    parser.add_argument('src', help='training checkpoint (.pth)')
    parser.add_argument('out_name',
                        help='output name; date and hash are appended')
    parser.add_argument(
        '--force', action='store_true',
        help='write the published file even when it is SRC')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        ckpt = publish_checkpoint(read_checkpoint(args.src))
        buffer = io.BytesIO()
        torch.save(ckpt, buffer)
        data = buffer.getvalue()
        final = published_name(args.out_name,
                               hashlib.sha256(data).hexdigest(),
                               datetime.date.today().strftime('%Y%m%d'))
        check_output_path(args.src, final, args.force)
        save_atomic(data, final, save=write_file)
    except (OSError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(f'wrote {len(ckpt["state_dict"])} tensors to {final}')


if __name__ == '__main__':
    main()
