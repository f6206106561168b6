"""Write TinyImageNet's meta/{train,val,classes}.txt into its folder.

``TINY_ROOT`` is the unpacked ``tiny-imagenet-200.zip``: ``wnids.txt``,
``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` and
``val/val_annotations.txt``. Label ``i`` is the ``i``-th wnid of
``wnids.txt``. Example::

    python tools/dataset_converters/make_tinyimagenet.py \\
        data/tiny-imagenet-200

A config then reads it with ``data_root='data/tiny-imagenet-200/'``,
``ann_file='meta/train.txt'``, ``data_prefix='train'`` (``meta/val.txt`` and
``'val'`` for the val split).
"""
import argparse
import os.path as osp
from typing import List, Optional

from maskssl.datasets import write_tiny_imagenet


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('tiny_root',
                        help='the unpacked tiny-imagenet-200/ folder; meta/ '
                        'is written there')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    counts = write_tiny_imagenet(args.tiny_root)
    print(f'wrote {counts["train"]} train and {counts["val"]} val images to '
          f'{osp.join(args.tiny_root, "meta")}')


if __name__ == '__main__':
    main()
