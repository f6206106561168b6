import filecmp
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from maskssl.datasets import TOY_CLASSES, make_scene, write_toy_dataset


def test_same_arguments_same_bytes(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    write_toy_dataset(a, 6, 2, seed=3)
    write_toy_dataset(b, 6, 2, seed=3)
    for dirpath, _, files in os.walk(a):
        for name in files:
            rel = osp.relpath(osp.join(dirpath, name), a)
            assert filecmp.cmp(osp.join(a, rel), osp.join(b, rel),
                               shallow=False), rel
    c = str(tmp_path / 'c')
    write_toy_dataset(c, 6, 2, seed=4)
    assert not filecmp.cmp(f'{a}/annotations/instances_train.json',
                           f'{c}/annotations/instances_train.json',
                           shallow=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='min_size'):
        write_toy_dataset(str(tmp_path), 2, 2, min_size=96, max_size=64)
    with pytest.raises(ValueError, match='num_val'):
        write_toy_dataset(str(tmp_path), 2, 0)


def test_scene_objects_disjoint_and_label_map():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scene = make_scene(rng, 80, 64)
        assert scene.image.shape == (64, 80, 3)
        lm = scene.label_map()
        assert lm.shape == (64, 80)
        boxes = [o.bbox for o in scene.objects]
        for i, a in enumerate(boxes):
            assert 0 <= a[0] and a[2] <= 79 and 0 <= a[1] and a[3] <= 63
            for b in boxes[i + 1:]:
                assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
        assert set(np.unique(lm)) == {0} | {o.label + 1 for o in scene.objects}


def test_classification_split(toy_root):
    from mmpretrain.datasets import CustomDataset
    ds = CustomDataset(data_root=toy_root, data_prefix='train',
                       ann_file='meta/train.txt',
                       pipeline=[dict(type='LoadImageFromFile')])
    assert len(ds) == 48
    item = ds[0]
    rel, label = open(f'{toy_root}/meta/train.txt').readline().split()
    assert item['img_path'].endswith(rel)
    assert item['gt_label'] == int(label)
    assert rel.split('/')[0] == TOY_CLASSES[int(label)]
    assert 48 <= item['img'].shape[0] <= 64


def test_coco_instances_match_label_maps(toy_root):
    from mmdet.datasets import CocoDataset
    ds = CocoDataset(data_root=toy_root,
                     ann_file='annotations/instances_val.json',
                     data_prefix=dict(img=''),
                     metainfo=dict(classes=TOY_CLASSES),
                     filter_cfg=dict(filter_empty_gt=False),
                     pipeline=[dict(type='LoadImageFromFile'),
                               dict(type='mmdet.LoadAnnotations', with_bbox=True,
                                    with_mask=True)])
    assert len(ds) == 16
    coco = json.load(open(f'{toy_root}/annotations/instances_val.json'))
    assert len(coco['images']) == 16
    for i in range(3):
        item = ds[i]
        stem = osp.splitext(osp.basename(item['img_path']))[0]
        lm = np.array(Image.open(
            f'{toy_root}/ade/annotations/validation/{stem}.png'))
        masks = item['gt_masks'].to_ndarray()
        assert masks.shape[1:] == lm.shape == item['img'].shape[:2]
        for mask, label, box in zip(masks, item['gt_bboxes_labels'],
                                    item['gt_bboxes'].tensor):
            # the polygon rasterised by pycocotools covers the same pixels as
            # the label map drawn by PIL, up to the boundary
            inside = lm[mask.astype(bool)]
            assert (inside == label + 1).mean() > 0.9
            ys, xs = np.nonzero(mask)
            assert abs(xs.min() - box[0]) <= 1.5 and abs(ys.min() - box[1]) <= 1.5


def test_voc_split(toy_root):
    from mmdet.datasets import VOCDataset
    # laid out as mmdet's VOC configs expect
    ds = VOCDataset(data_root=f'{toy_root}/VOCdevkit/',
                    ann_file='VOC2007/ImageSets/Main/test.txt',
                    data_prefix=dict(sub_data_root='VOC2007/'),
                    metainfo=dict(classes=TOY_CLASSES),
                    pipeline=[dict(type='LoadImageFromFile'),
                              dict(type='mmdet.LoadAnnotations', with_bbox=True)])
    assert len(ds) == 16
    item = ds[0]
    coco = json.load(open(f'{toy_root}/annotations/instances_val.json'))
    anns = [a for a in coco['annotations'] if a['image_id'] == 1]
    assert len(item['gt_bboxes']) == len(anns)
    for box, label, ann in zip(item['gt_bboxes'].tensor,
                               item['gt_bboxes_labels'], anns):
        x, y, w, h = ann['bbox']
        assert label == ann['category_id'] - 1
        assert np.allclose(box.numpy(), [x, y, x + w, y + h], atol=1.0)


def test_ade20k_split(toy_root):
    from mmseg.datasets import ADE20KDataset
    ds = ADE20KDataset(data_root=f'{toy_root}/ade',
                       data_prefix=dict(img_path='images/validation',
                                        seg_map_path='annotations/validation'),
                       pipeline=[dict(type='LoadImageFromFile'),
                                 dict(type='mmseg.LoadAnnotations',
                                      reduce_zero_label=True)])
    assert len(ds) == 16
    item = ds[0]
    raw = np.array(Image.open(item['seg_map_path']))
    seg = item['gt_seg_map']
    assert seg.shape == raw.shape == item['img'].shape[:2]
    # reduce_zero_label: background 0 -> 255 (ignored), class c+1 -> c
    assert (seg[raw == 0] == 255).all()
    assert (seg[raw > 0] == raw[raw > 0] - 1).all()
