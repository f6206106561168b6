"""Write ImageNet-100's meta/{train,val,classes}.txt from an ImageNet folder.

ImageNet-100 is the 100-class subset of CMC (Tian et al., 2020), shipped as
``configs/_base_/datasets/imagenet100_classes.txt``; label ``i`` is the
``i``-th class of that file. ``IMAGENET_ROOT`` holds ``train/<wnid>/*.JPEG``
and ``val/<wnid>/*.JPEG``, or mmpretrain's layout (a flat ``val/`` folder
listed by ``meta/val.txt``, indices mapped to wnids by ``meta/train.txt``).
Example::

    python tools/dataset_converters/make_imagenet100.py \\
        data/imagenet data/imagenet100 --link

With ``--link``, ``OUT_ROOT/train`` and ``OUT_ROOT/val`` are symlinks to the
ImageNet folders, so a config reads it with ``data_root='data/imagenet100'``,
``ann_file='meta/train.txt'``, ``data_prefix='train'``; without it, point
``data_prefix`` at the ImageNet folder (an absolute path).
"""
import argparse
import os.path as osp
from typing import List, Optional

from maskssl.datasets import read_class_list, write_imagenet_subset

DEFAULT_CLASSES = osp.normpath(
    osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'configs',
             '_base_', 'datasets', 'imagenet100_classes.txt'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('imagenet_root',
                        help='ImageNet folder with train/ and val/')
    parser.add_argument('out_root',
                        help='where meta/ (and with --link train/, val/) go')
    parser.add_argument('--classes', default=DEFAULT_CLASSES,
                        help='class list, one wnid a line (default: the CMC '
                        'ImageNet-100 list)')
    parser.add_argument('--link', action='store_true',
                        help='symlink OUT_ROOT/train and OUT_ROOT/val to the '
                        'ImageNet folders')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    classes = read_class_list(args.classes)
    counts = write_imagenet_subset(args.imagenet_root, args.out_root,
                                   classes, link=args.link)
    print(f'wrote {counts["train"]} train and {counts["val"]} val images of '
          f'{len(classes)} classes ({args.classes}) to '
          f'{osp.join(args.out_root, "meta")}')


if __name__ == '__main__':
    main()
