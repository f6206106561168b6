"""Write the toy scenes in the formats the OpenMMLab datasets read.

Layout under ``out_dir`` (``N`` = image id, ``S`` = ``train``/``val``)::

    train/<class>/S_N.jpg, val/<class>/S_N.jpg   ImageNet-style folders
    meta/train.txt, meta/val.txt                 "<class>/S_N.jpg <label>"
    meta/classes.txt                             one class name a line
    annotations/instances_{train,val}.json       COCO instances (polygons)
    VOCdevkit/VOC2007/{JPEGImages,Annotations}   VOC xml, 1-based boxes
    VOCdevkit/VOC2007/ImageSets/Main/{trainval,test}.txt
    ade/images/{training,validation}/S_N.jpg     ADE20K-style images
    ade/annotations/{training,validation}/S_N.png  0 = background, c + 1
    meta/toy_dataset.json                        the generation arguments

Images are written once and hard-linked (copied where links are not
supported) into the VOC and ADE trees.
"""
import json
import os
import os.path as osp
import shutil
from typing import Dict, List
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image

from .toy_scenes import TOY_CLASSES, ToyScene, make_scene

SPLITS = {'train': ('trainval', 'training'), 'val': ('test', 'validation')}
# Everything the writer creates under out_dir; cleared before writing, so that
# a regenerated dataset holds no file of an earlier one.
OUTPUTS = ('train', 'val', 'meta', 'annotations', 'VOCdevkit', 'ade')


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _voc_xml(scene: ToyScene, filename: str) -> ET.ElementTree:
    h, w = scene.image.shape[:2]
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = 'VOC2007'
    ET.SubElement(root, 'filename').text = filename
    size = ET.SubElement(root, 'size')
    for key, value in (('width', w), ('height', h), ('depth', 3)):
        ET.SubElement(size, key).text = str(value)
    for obj in scene.objects:
        x0, y0, x1, y1 = obj.bbox
        node = ET.SubElement(root, 'object')
        ET.SubElement(node, 'name').text = TOY_CLASSES[obj.label]
        ET.SubElement(node, 'pose').text = 'Unspecified'
        ET.SubElement(node, 'truncated').text = '0'
        ET.SubElement(node, 'difficult').text = '0'
        box = ET.SubElement(node, 'bndbox')
        # VOC boxes are 1-based and inclusive.
        for key, value in (('xmin', x0), ('ymin', y0), ('xmax', x1),
                           ('ymax', y1)):
            ET.SubElement(box, key).text = str(int(round(value)) + 1)
    return ET.ElementTree(root)


def _coco_annotations(scene: ToyScene, image_id: int,
                      first_ann_id: int) -> List[Dict]:
    anns = []
    for i, obj in enumerate(scene.objects):
        x0, y0, x1, y1 = obj.bbox
        xs, ys = np.array(obj.polygon).T
        # shoelace formula: area of the polygon
        area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
        anns.append(
            dict(
                id=first_ann_id + i,
                image_id=image_id,
                category_id=obj.label + 1,
                bbox=[round(x0, 2), round(y0, 2), round(x1 - x0, 2),
                      round(y1 - y0, 2)],
                area=round(float(area), 2),
                segmentation=[[round(v, 2) for p in obj.polygon for v in p]],
                iscrowd=0))
    return anns


def write_toy_dataset(out_dir: str,
                      num_train: int = 2000,
                      num_val: int = 500,
                      min_size: int = 64,
                      max_size: int = 96,
                      seed: int = 0) -> Dict:
    """Generate the toy dataset into ``out_dir`` (see the module docstring).

    The output is a pure function of the arguments: the same arguments write
    byte-identical files. The folders listed in :data:`OUTPUTS` are removed
    first; nothing else under ``out_dir`` is touched.

    Args:
        out_dir (str): Dataset root; created if missing.
        num_train (int): Number of training scenes.
        num_val (int): Number of validation scenes.
        min_size (int): Smallest image side in pixels.
        max_size (int): Largest image side in pixels; each image's width and
            height are drawn uniformly from ``[min_size, max_size]``.
        seed (int): Seed of the generator.

    Returns:
        dict: The arguments, as written to ``meta/toy_dataset.json``.
    """
    if min_size < 32 or max_size < min_size:
        raise ValueError(f'need 32 <= min_size <= max_size, got '
                         f'min_size={min_size}, max_size={max_size}')
    if num_train < 1 or num_val < 1:
        raise ValueError(f'need at least one image per split, got '
                         f'num_train={num_train}, num_val={num_val}')
    args = dict(num_train=num_train, num_val=num_val, min_size=min_size,
                max_size=max_size, seed=seed, classes=list(TOY_CLASSES))
    for name in OUTPUTS:
        shutil.rmtree(osp.join(out_dir, name), ignore_errors=True)
    voc = osp.join(out_dir, 'VOCdevkit', 'VOC2007')
    dirs = [osp.join(out_dir, 'meta'), osp.join(out_dir, 'annotations'),
            osp.join(voc, 'JPEGImages'), osp.join(voc, 'Annotations'),
            osp.join(voc, 'ImageSets', 'Main')]
    for split, (_, ade_split) in SPLITS.items():
        dirs += [osp.join(out_dir, split, c) for c in TOY_CLASSES]
        dirs += [osp.join(out_dir, 'ade', kind, ade_split)
                 for kind in ('images', 'annotations')]
    for d in dirs:
        os.makedirs(d, exist_ok=True)

    rng = np.random.default_rng(seed)
    categories = [dict(id=i + 1, name=c, supercategory='shape')
                  for i, c in enumerate(TOY_CLASSES)]
    for split, num in (('train', num_train), ('val', num_val)):
        voc_set, ade_split = SPLITS[split]
        cls_lines, voc_ids = [], []
        coco = dict(images=[], annotations=[], categories=categories)
        for image_id in range(1, num + 1):
            w, h = rng.integers(min_size, max_size + 1, size=2)
            scene = make_scene(rng, int(w), int(h))
            stem = f'{split}_{image_id:05d}'
            rel = f'{TOY_CLASSES[scene.label]}/{stem}.jpg'
            path = osp.join(out_dir, split, rel)
            Image.fromarray(scene.image).save(path, quality=95)
            cls_lines.append(f'{rel} {scene.label}')
            coco['images'].append(dict(id=image_id, file_name=f'{split}/{rel}',
                                       width=int(w), height=int(h)))
            coco['annotations'] += _coco_annotations(
                scene, image_id, len(coco['annotations']) + 1)
            _link(path, osp.join(voc, 'JPEGImages', f'{stem}.jpg'))
            _voc_xml(scene, f'{stem}.jpg').write(
                osp.join(voc, 'Annotations', f'{stem}.xml'))
            voc_ids.append(stem)
            _link(path, osp.join(out_dir, 'ade', 'images', ade_split,
                                 f'{stem}.jpg'))
            Image.fromarray(scene.label_map()).save(
                osp.join(out_dir, 'ade', 'annotations', ade_split,
                         f'{stem}.png'))
        with open(osp.join(out_dir, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(cls_lines) + '\n')
        with open(osp.join(voc, 'ImageSets', 'Main', f'{voc_set}.txt'),
                  'w') as f:
            f.write('\n'.join(voc_ids) + '\n')
        with open(osp.join(out_dir, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(coco, f)
    with open(osp.join(out_dir, 'meta', 'classes.txt'), 'w') as f:
        f.write('\n'.join(TOY_CLASSES) + '\n')
    # Written last: its presence marks a complete dataset.
    with open(osp.join(out_dir, 'meta', 'toy_dataset.json'), 'w') as f:
        json.dump(args, f, indent=2)
    return args
