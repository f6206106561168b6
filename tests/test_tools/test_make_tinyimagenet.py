"""tools/dataset_converters/make_tinyimagenet.py on a tiny fake
TinyImageNet: the meta files' lines and labels (wnids.txt order), the
TinyImageNet linear-probe configs read the result, and clear errors naming
the file."""
import importlib.util
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmpretrain.datasets import CustomDataset
from PIL import Image

from conftest import REPO

TOOL = osp.join(REPO, 'tools/dataset_converters/make_tinyimagenet.py')
LINEAR = osp.join(REPO, 'configs/benchmarks/classification/'
                  'resnet50_8xb32-linear-steplr-100e_tinyin200{}.py')
# not sorted: labels must follow wnids.txt
WNIDS = ['n09999999', 'n01443537', 'n05555555']
# val image -> wnid, not in wnids.txt's order either
VAL = {'val_0.JPEG': 'n05555555', 'val_1.JPEG': 'n09999999'}


def run(*argv) -> None:
    spec = importlib.util.spec_from_file_location('make_tinyimagenet', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(a) for a in argv])


def write_image(path) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new('RGB', (4, 4), (10, 20, 30)).save(path, format='JPEG')


def write_val_annotations(root, val) -> None:
    with open(osp.join(root, 'val', 'val_annotations.txt'), 'w') as f:
        f.writelines(f'{name}\t{wnid}\t0\t1\t3\t2\n'
                     for name, wnid in val.items())


@pytest.fixture
def tiny(tmp_path):
    """The official layout: wnids.txt, train/<wnid>/images/ (2 images and
    the <wnid>_boxes.txt of the download), val/images/ with
    val_annotations.txt."""
    root = str(tmp_path / 'tiny-imagenet-200')
    os.makedirs(root)
    with open(osp.join(root, 'wnids.txt'), 'w') as f:
        f.write('\n'.join(WNIDS) + '\n')
    for wnid in WNIDS:
        for k in range(2):
            write_image(osp.join(root, 'train', wnid, 'images',
                                 f'{wnid}_{k}.JPEG'))
        open(osp.join(root, 'train', wnid, f'{wnid}_boxes.txt'), 'w').close()
    for name in VAL:
        write_image(osp.join(root, 'val', 'images', name))
    write_val_annotations(root, VAL)
    return root


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_meta_files(tiny):
    run(tiny)
    meta = osp.join(tiny, 'meta')
    assert read_lines(osp.join(meta, 'classes.txt')) == WNIDS
    # hand-written: label = position in wnids.txt, sorted by path
    assert read_lines(osp.join(meta, 'train.txt')) == [
        'n01443537/images/n01443537_0.JPEG 1',
        'n01443537/images/n01443537_1.JPEG 1',
        'n05555555/images/n05555555_0.JPEG 2',
        'n05555555/images/n05555555_1.JPEG 2',
        'n09999999/images/n09999999_0.JPEG 0',
        'n09999999/images/n09999999_1.JPEG 0',
    ]
    assert read_lines(osp.join(meta, 'val.txt')) == [
        'images/val_0.JPEG 2',
        'images/val_1.JPEG 0',
    ]


@pytest.mark.parametrize('suffix', ['', '-highpass'])
def test_linear_configs_read_the_result(tiny, suffix):
    run(tiny)
    cfg = Config.fromfile(LINEAR.format(suffix))
    assert cfg.model.head.num_classes == 200
    assert cfg.model.data_preprocessor.num_classes == 200
    assert (cfg.model.data_preprocessor.get('type') ==
            'HighPassClsDataPreprocessor') == (suffix == '-highpass')
    # the pretraining base reads the same root and train prefix
    pretrain = Config.fromfile(osp.join(
        REPO, 'configs/_base_/datasets/tinyimagenet_bs32_mocov2.py'))
    for split, loader in (('train', cfg.train_dataloader),
                          ('val', cfg.val_dataloader),
                          ('val', cfg.test_dataloader)):
        dataset_cfg = loader.dataset
        assert dataset_cfg.data_root == 'data/tiny-imagenet-200/'
        assert dataset_cfg.ann_file == f'meta/{split}.txt'
        assert dataset_cfg.data_prefix == split
        if split == 'train':
            assert (dataset_cfg.data_root, dataset_cfg.data_prefix) == (
                pretrain.train_dataloader.dataset.data_root,
                pretrain.train_dataloader.dataset.data_prefix)
        dataset = CustomDataset(
            data_root=tiny, ann_file=dataset_cfg.ann_file,
            data_prefix=dataset_cfg.data_prefix)
        assert len(dataset) == (6 if split == 'train' else 2)
        first = dataset.get_data_info(0)
        assert first['gt_label'] == (1 if split == 'train' else 2)
        assert osp.isfile(first['img_path'])
    scales = [t.get('scale') or t.get('crop_size')
              for t in cfg.train_dataloader.dataset.pipeline
              + cfg.test_dataloader.dataset.pipeline
              if t['type'] in ('RandomResizedCrop', 'ResizeEdge',
                               'CenterCrop')]
    assert scales == [224, 256, 224]


def test_errors(tmp_path, tiny):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError,
                       match=f'TinyImageNet root {missing} does not exist'):
        run(missing)

    write_val_annotations(tiny, {**VAL, 'val_0.JPEG': 'n01440764'})
    ann = osp.join(tiny, 'val', 'val_annotations.txt')
    with pytest.raises(ValueError, match=f"{ann}:1: wnid 'n01440764' of "
                       'val_0.JPEG is not in .*wnids.txt'):
        run(tiny)
    write_val_annotations(tiny, {**VAL, 'val_7.JPEG': WNIDS[0]})
    with pytest.raises(FileNotFoundError,
                       match=f'{ann}:3: image .*val_7.JPEG does not exist'):
        run(tiny)
    write_val_annotations(tiny, VAL)

    empty = osp.join(tiny, 'train', WNIDS[1], 'images')
    for name in os.listdir(empty):
        os.remove(osp.join(empty, name))
    with pytest.raises(ValueError, match=r'train: 1 class folder\(s\) '
                       f'without images .*: {WNIDS[1]}$'):
        run(tiny)

    os.remove(osp.join(tiny, 'wnids.txt'))
    with pytest.raises(FileNotFoundError,
                       match=f'{tiny}/wnids.txt does not exist'):
        run(tiny)
    assert not osp.exists(osp.join(tiny, 'meta'))  # nothing written
