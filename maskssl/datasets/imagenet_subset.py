"""Annotation files for a class subset of ImageNet (e.g. ImageNet-100).

The subset is a class list file (one WordNet id a line, ``#`` lines and blank
lines skipped); label ``i`` is the ``i``-th class of the file. Each split of
the source ImageNet root is read from one of the two layouts mmpretrain's
``CustomDataset``/``ImageNet`` read:

* class folders ``ROOT/<split>/<wnid>/...`` (files with an image extension,
  searched recursively, as ``CustomDataset`` does), or
* an annotation file ``ROOT/meta/<split>.txt`` of ``path label`` lines over
  ``ROOT/<split>`` (mmpretrain's ImageNet layout, with a flat ``val/``
  folder). Its labels are ImageNet-1k indices; the index -> wnid map comes
  from ``ROOT/meta/train.txt``, whose paths start with ``<wnid>/``.

A split uses the class folders when ``ROOT/<split>`` holds a folder of any
listed class, the annotation file otherwise. The samples are written as
``OUT/meta/<split>.txt`` (``relative/path label``, sorted by path, paths
relative to ``ROOT/<split>``) and ``OUT/meta/classes.txt``.
"""
import os
import os.path as osp
import re
from typing import Dict, List, Sequence, Tuple

# mmpretrain's CustomDataset default extensions
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.webp')
WNID_PATTERN = re.compile(r'n\d{8}')
SPLITS = ('train', 'val')

Sample = Tuple[str, int]


def _preview(names: Sequence[str], n: int = 5) -> str:
    """``'a, b, c'`` or ``'a, b, c, ... (12 in all)'``."""
    shown = ', '.join(names[:n])
    return shown if len(names) <= n else f'{shown}, ... ({len(names)} in all)'


def read_class_list(path: str) -> List[str]:
    """The class folder names of ``path``, one a line, in order (``#`` lines
    and blank lines skipped). Raises on a missing or empty file, a line with
    more than one name, or a repeated name."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'class list {path} does not exist; expected '
                                'a text file with one class (wnid) a line')
    classes = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            if len(line.split()) != 1:
                raise ValueError(f'{path}:{lineno}: {line!r}; expected one '
                                 'class (wnid) a line')
            classes.append(line)
    if not classes:
        raise ValueError(f'class list {path} names no class')
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise ValueError(f'class list {path} repeats {len(repeated)} '
                         f'class(es): {_preview(repeated)}')
    return classes


def _is_image(filename: str) -> bool:
    return filename.lower().endswith(IMG_EXTENSIONS)


def _class_files(class_dir: str) -> List[str]:
    """Image files under ``class_dir`` (recursive, links followed), relative
    to ``class_dir``, with ``/`` separators."""
    files = []
    for dirpath, _, filenames in os.walk(class_dir, followlinks=True):
        rel = osp.relpath(dirpath, class_dir)
        for name in filenames:
            if _is_image(name):
                path = name if rel == '.' else osp.join(rel, name)
                files.append(path.replace(os.sep, '/'))
    return files


def scan_class_folders(split_dir: str, classes: Sequence[str]
                       ) -> List[Sample]:
    """``(wnid/file, label)`` for every image of the listed classes under
    ``split_dir/<wnid>/``, sorted by path. Raises on missing or empty class
    folders, naming the first few and how many."""
    missing = [c for c in classes if not osp.isdir(osp.join(split_dir, c))]
    if missing:
        raise FileNotFoundError(
            f'{split_dir}: {len(missing)} of {len(classes)} class folders '
            f'missing: {_preview(missing)}; expected {split_dir}/<wnid>/ for '
            'every class of the class list')
    samples, empty = [], []
    for label, wnid in enumerate(classes):
        files = _class_files(osp.join(split_dir, wnid))
        if not files:
            empty.append(wnid)
        samples += [(f'{wnid}/{f}', label) for f in files]
    if empty:
        raise ValueError(
            f'{split_dir}: {len(empty)} class folder(s) without images '
            f'({"/".join(IMG_EXTENSIONS)}): {_preview(empty)}')
    return sorted(samples)


def read_annotation_file(ann_file: str) -> List[Sample]:
    """The ``(path, label)`` pairs of an mmpretrain annotation file."""
    samples = []
    with open(ann_file) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f'{ann_file}:{lineno}: {line.strip()!r}; '
                                 'expected "path label"')
            samples.append((parts[0], int(parts[1])))
    return samples


def wnid_of_index(train_ann_file: str) -> Dict[int, str]:
    """ImageNet index -> wnid, read from an annotation file whose paths
    start with ``<wnid>/`` (mmpretrain's ``meta/train.txt``)."""
    if not osp.isfile(train_ann_file):
        raise FileNotFoundError(
            f'{train_ann_file} does not exist; it is needed to map the '
            'class indices of the other annotation files to wnids (its '
            'paths start with <wnid>/)')
    mapping: Dict[int, str] = {}
    for path, label in read_annotation_file(train_ann_file):
        wnid = path.split('/', 1)[0]
        if mapping.setdefault(label, wnid) != wnid:
            raise ValueError(f'{train_ann_file}: label {label} is used for '
                             f'both {mapping[label]}/ and {wnid}/')
    return mapping


def select_annotations(ann_file: str, index_to_wnid: Dict[int, str],
                       classes: Sequence[str]) -> List[Sample]:
    """``(path, new label)`` for the lines of ``ann_file`` whose class is
    listed, sorted by path. Raises when a listed class has no line."""
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'{ann_file} does not exist')
    new_label = {wnid: i for i, wnid in enumerate(classes)}
    samples, seen = [], set()
    for path, label in read_annotation_file(ann_file):
        wnid = index_to_wnid.get(label)
        if wnid in new_label:
            samples.append((path, new_label[wnid]))
            seen.add(wnid)
    missing = [c for c in classes if c not in seen]
    if missing:
        raise ValueError(
            f'{ann_file}: {len(missing)} of {len(classes)} classes have no '
            f'image: {_preview(missing)}')
    return sorted(samples)


def collect_split(root: str, split: str, classes: Sequence[str]
                  ) -> List[Sample]:
    """The samples of ``split`` from the class folders of ``root/split`` or,
    when it has none of the listed classes, from ``root/meta/split.txt``."""
    split_dir = osp.join(root, split)
    ann_file = osp.join(root, 'meta', f'{split}.txt')
    if not osp.isdir(split_dir):
        raise FileNotFoundError(
            f'{split_dir} does not exist; expected the ImageNet {split} '
            f'images there ({split}/<wnid>/*.JPEG, or a flat folder listed '
            f'by {ann_file})')
    if any(osp.isdir(osp.join(split_dir, c)) for c in classes):
        return scan_class_folders(split_dir, classes)
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'{split_dir} holds none of the {len(classes)} class folders '
            f'({_preview(list(classes), 3)}) and {ann_file} does not exist; '
            f'expected {split_dir}/<wnid>/ folders or that annotation file')
    index_to_wnid = wnid_of_index(osp.join(root, 'meta', 'train.txt'))
    return select_annotations(ann_file, index_to_wnid, classes)


def write_annotations(path: str, samples: Sequence[Sample]) -> None:
    """``path label`` lines."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(f'{p} {label}\n' for p, label in samples)


def link_split(src: str, dst: str) -> None:
    """Make ``dst`` a symlink to the folder ``src`` (an existing symlink at
    ``dst`` is replaced; anything else there is refused)."""
    if osp.islink(dst):
        os.remove(dst)
    elif osp.exists(dst):
        raise FileExistsError(f'{dst} exists and is not a symlink; remove it '
                              f'to link it to {src}')
    os.symlink(osp.abspath(src), dst)


def write_imagenet_subset(root: str, out_root: str, classes: Sequence[str],
                          link: bool = False) -> Dict[str, int]:
    """Write ``out_root/meta/{train,val,classes}.txt`` for ``classes`` of the
    ImageNet at ``root`` (and, with ``link``, symlink ``out_root/train`` and
    ``out_root/val`` to ``root``'s folders). Returns the count per split."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'ImageNet root {root} does not exist; '
                                'expected a folder with train/ and val/')
    if osp.realpath(root) == osp.realpath(out_root):
        raise ValueError(f'output root {out_root} is the ImageNet root; its '
                         'meta/ files would be overwritten')
    samples = {split: collect_split(root, split, classes) for split in SPLITS}
    meta = osp.join(out_root, 'meta')
    for split in SPLITS:
        write_annotations(osp.join(meta, f'{split}.txt'), samples[split])
    with open(osp.join(meta, 'classes.txt'), 'w') as f:
        f.writelines(f'{c}\n' for c in classes)
    if link:
        for split in SPLITS:
            link_split(osp.join(root, split), osp.join(out_root, split))
    return {split: len(s) for split, s in samples.items()}
