"""Annotation files for TinyImageNet (200 classes, 64 x 64 px).

The official download (``tiny-imagenet-200.zip``) unpacks to::

    tiny-imagenet-200/
        wnids.txt                          # the 200 wnids, one a line
        train/<wnid>/images/<wnid>_<k>.JPEG
        val/images/val_<k>.JPEG
        val/val_annotations.txt            # file <TAB> wnid <TAB> box
        test/images/...                    # unlabelled, not used

Label ``i`` is the ``i``-th wnid of ``wnids.txt`` (in the file's order). The
samples are written into the same root as ``meta/train.txt``
(``<wnid>/images/<file> label``, relative to ``train/``), ``meta/val.txt``
(``images/<file> label``, relative to ``val/``) and ``meta/classes.txt``,
so a config reads them with ``data_root='data/tiny-imagenet-200/'`` and
``data_prefix='train'`` / ``'val'``, as
``configs/_base_/datasets/tinyimagenet_bs32_mocov2.py`` does.
"""
import os.path as osp
from typing import Dict, List, Sequence

from .imagenet_subset import (Sample, read_class_list, scan_class_folders,
                              write_annotations)

VAL_ANNOTATIONS = osp.join('val', 'val_annotations.txt')
VAL_IMAGES = 'images'


def read_wnids(root: str) -> List[str]:
    """The wnids of ``root/wnids.txt`` in the file's order."""
    path = osp.join(root, 'wnids.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} does not exist; expected TinyImageNet\'s class list '
            '(one wnid a line) in the root of the unpacked '
            'tiny-imagenet-200.zip')
    return read_class_list(path)


def read_val_annotations(root: str, wnids: Sequence[str]) -> List[Sample]:
    """``(images/<file>, label)`` for each line of
    ``root/val/val_annotations.txt`` (``file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1
    <TAB>y1``), sorted by path. Raises, naming the file and line, on a
    malformed line, an unknown wnid, a repeated file or a missing image."""
    ann_file = osp.join(root, VAL_ANNOTATIONS)
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'{ann_file} does not exist; expected TinyImageNet\'s val labels '
            '(file, wnid and box, tab-separated, one image a line)')
    label_of = {wnid: i for i, wnid in enumerate(wnids)}
    image_dir = osp.join(root, 'val', VAL_IMAGES)
    samples: Dict[str, int] = {}
    with open(ann_file) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.rstrip('\n').split('\t')
            if len(fields) < 2:
                raise ValueError(f'{ann_file}:{lineno}: {line.strip()!r}; '
                                 'expected "file<TAB>wnid<TAB>box"')
            name, wnid = fields[0].strip(), fields[1].strip()
            if wnid not in label_of:
                raise ValueError(
                    f'{ann_file}:{lineno}: wnid {wnid!r} of {name} is not '
                    f'in {osp.join(root, "wnids.txt")}')
            if not osp.isfile(osp.join(image_dir, name)):
                raise FileNotFoundError(
                    f'{ann_file}:{lineno}: image {osp.join(image_dir, name)} '
                    'does not exist')
            path = f'{VAL_IMAGES}/{name}'
            if path in samples:
                raise ValueError(f'{ann_file}:{lineno}: {name} is listed '
                                 'twice')
            samples[path] = label_of[wnid]
    if not samples:
        raise ValueError(f'{ann_file} lists no image')
    return sorted(samples.items())


def write_tiny_imagenet(root: str) -> Dict[str, int]:
    """Write ``root/meta/{train,val,classes}.txt`` for the TinyImageNet at
    ``root``; nothing is written unless both splits read cleanly. Returns
    the count per split."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'TinyImageNet root {root} does not exist; '
                                'expected the unpacked tiny-imagenet-200/')
    wnids = read_wnids(root)
    train_dir = osp.join(root, 'train')
    if not osp.isdir(train_dir):
        raise FileNotFoundError(f'{train_dir} does not exist; expected '
                                'train/<wnid>/images/*.JPEG')
    samples = {
        'train': scan_class_folders(train_dir, wnids),
        'val': read_val_annotations(root, wnids),
    }
    meta = osp.join(root, 'meta')
    for split, split_samples in samples.items():
        write_annotations(osp.join(meta, f'{split}.txt'), split_samples)
    with open(osp.join(meta, 'classes.txt'), 'w') as f:
        f.writelines(f'{c}\n' for c in wnids)
    return {split: len(s) for split, s in samples.items()}
