"""tools/dataset_converters/make_imagenet100.py on a tiny fake ImageNet: the
meta files follow the class list (labels, only listed classes, counts),
mmpretrain's CustomDataset reads the result, both source layouts (class
folders; mmpretrain's flat val/ with meta/*.txt) and clear errors; the
shipped ImageNet-100 class list is CMC's 100 wnids."""
import importlib.util
import os
import os.path as osp
import re

import pytest
from mmpretrain.datasets import CustomDataset
from PIL import Image

from conftest import REPO

TOOL = osp.join(REPO, 'tools/dataset_converters/make_imagenet100.py')
CLASS_FILE = osp.join(REPO, 'configs/_base_/datasets/imagenet100_classes.txt')
# three classes of the CMC list, not in sorted order (labels must follow the
# file), and two ImageNet classes that are not in it (tench, goldfish)
LISTED = ['n04589890', 'n01749939', 'n02869837']
OTHERS = ['n01440764', 'n01443537']


def load_tool():
    spec = importlib.util.spec_from_file_location('make_imagenet100', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*argv) -> None:
    load_tool().main([str(a) for a in argv])


def write_image(path) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new('RGB', (4, 4), (10, 20, 30)).save(path, format='JPEG')


def make_imagenet(root, wnids=LISTED + OTHERS, per_class=2):
    """``root/{train,val}/<wnid>/<wnid>_<i>.JPEG`` (``per_class`` train and
    val images each), and a stray non-image file in each class folder."""
    for split in ('train', 'val'):
        for wnid in wnids:
            for i in range(per_class):
                write_image(osp.join(root, split, wnid, f'{wnid}_{i}.JPEG'))
            open(osp.join(root, split, wnid, 'notes.txt'), 'w').close()
    return root


def write_class_file(path, classes, header='# a test subset'):
    with open(path, 'w') as f:
        f.write('\n'.join([header, ''] + list(classes)) + '\n')
    return path


def read_lines(path):
    with open(path) as f:
        return [line.split() for line in f.read().splitlines()]


@pytest.fixture
def imagenet(tmp_path):
    return make_imagenet(str(tmp_path / 'imagenet'))


@pytest.fixture
def class_file(tmp_path):
    return write_class_file(str(tmp_path / 'classes.txt'), LISTED)


def test_class_folders(tmp_path, imagenet, class_file):
    out = str(tmp_path / 'in100')
    run(imagenet, out, '--classes', class_file, '--link')
    with open(osp.join(out, 'meta', 'classes.txt')) as f:
        assert f.read().split() == LISTED
    for split in ('train', 'val'):
        lines = read_lines(osp.join(out, 'meta', f'{split}.txt'))
        paths = [p for p, _ in lines]
        assert paths == sorted(paths)
        # only listed classes, both images of each, labels in the file order
        assert len(lines) == 2 * len(LISTED)
        for path, label in lines:
            wnid = path.split('/')[0]
            assert label == str(LISTED.index(wnid))
            assert path.endswith('.JPEG')
        assert osp.islink(osp.join(out, split))
        assert osp.realpath(osp.join(out, split)) == osp.realpath(
            osp.join(imagenet, split))

        dataset = CustomDataset(
            data_root=out, ann_file=f'meta/{split}.txt', data_prefix=split,
            classes=osp.join(out, 'meta', 'classes.txt'))
        assert len(dataset) == 6
        assert dataset.CLASSES == tuple(LISTED)
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            wnid = osp.basename(osp.dirname(info['img_path']))
            assert info['gt_label'] == LISTED.index(wnid)
            assert osp.isfile(info['img_path'])

    # a second run replaces its own links
    run(imagenet, out, '--classes', class_file, '--link')
    assert osp.islink(osp.join(out, 'train'))


def test_mmpretrain_layout(tmp_path, class_file):
    """Class folders for train, a flat val/ listed by meta/val.txt with
    ImageNet-1k indices (here: the sorted wnids of the fake ImageNet)."""
    root = str(tmp_path / 'imagenet')
    wnids = sorted(LISTED + OTHERS)
    train_lines, val_lines = [], []
    for index, wnid in enumerate(wnids):
        for i in range(2):
            rel = f'{wnid}/{wnid}_{i}.JPEG'
            write_image(osp.join(root, 'train', rel))
            train_lines.append(f'{rel} {index}')
            name = f'ILSVRC2012_val_{index * 2 + i + 1:08d}.JPEG'
            write_image(osp.join(root, 'val', name))
            val_lines.append(f'{name} {index}')
    os.makedirs(osp.join(root, 'meta'))
    for split, lines in (('train', train_lines), ('val', val_lines)):
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')

    out = str(tmp_path / 'in100')
    run(root, out, '--classes', class_file, '--link')
    val = read_lines(osp.join(out, 'meta', 'val.txt'))
    expected = sorted(
        [name, str(LISTED.index(wnids[int(index)]))]
        for name, index in (line.split() for line in val_lines)
        if wnids[int(index)] in LISTED)
    assert val == expected and len(val) == 6
    dataset = CustomDataset(data_root=out, ann_file='meta/val.txt',
                            data_prefix='val')
    assert len(dataset) == 6
    assert all(osp.isfile(dataset.get_data_info(i)['img_path'])
               for i in range(6))
    assert sorted(int(lab) for _, lab in val) == [0, 0, 1, 1, 2, 2]
    # train from the class folders (they take precedence)
    assert len(read_lines(osp.join(out, 'meta', 'train.txt'))) == 6

    # meta/val.txt's indices need meta/train.txt for the wnids
    os.remove(osp.join(root, 'meta', 'train.txt'))
    with pytest.raises(FileNotFoundError, match=r'meta/train\.txt does not '
                       'exist; it is needed to map the class indices'):
        run(root, str(tmp_path / 'b'), '--classes', class_file)


def test_errors(tmp_path, imagenet, class_file):
    out = str(tmp_path / 'in100')
    missing_root = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError,
                       match=f'ImageNet root {missing_root} does not exist'):
        run(missing_root, out, '--classes', class_file)

    # the default class list is CMC's: 97 of its classes are missing
    with pytest.raises(FileNotFoundError) as err:
        run(imagenet, out)
    assert re.search(r'train: 97 of 100 class folders missing: '
                     r'n\d{8}, n\d{8}, n\d{8}, n\d{8}, n\d{8}, \.\.\. '
                     r'\(97 in all\)', str(err.value))

    # one listed class folder missing in val
    wnid = LISTED[1]
    for name in os.listdir(osp.join(imagenet, 'val', wnid)):
        os.remove(osp.join(imagenet, 'val', wnid, name))
    os.rmdir(osp.join(imagenet, 'val', wnid))
    with pytest.raises(FileNotFoundError,
                       match=f'val: 1 of 3 class folders missing: {wnid};'):
        run(imagenet, out, '--classes', class_file)
    # ... or there without an image (only the stray .txt file)
    os.makedirs(osp.join(imagenet, 'val', wnid))
    open(osp.join(imagenet, 'val', wnid, 'notes.txt'), 'w').close()
    with pytest.raises(ValueError, match=r'val: 1 class folder\(s\) without '
                       f'images .*: {wnid}$'):
        run(imagenet, out, '--classes', class_file)
    assert not osp.exists(osp.join(out, 'meta'))  # nothing written

    # a flat split without meta/<split>.txt
    flat = str(tmp_path / 'flat')
    write_image(osp.join(flat, 'train', 'a.JPEG'))
    write_image(osp.join(flat, 'val', 'b.JPEG'))
    with pytest.raises(FileNotFoundError, match='holds none of the 3 class '
                       r'folders .* and .*meta/train\.txt does not exist'):
        run(flat, out, '--classes', class_file)


def test_bad_output_and_class_list(tmp_path, imagenet, class_file):
    with pytest.raises(ValueError, match='is the ImageNet root'):
        run(imagenet, imagenet, '--classes', class_file)
    out = str(tmp_path / 'in100')
    os.makedirs(osp.join(out, 'train'))
    with pytest.raises(FileExistsError, match=f'{out}/train exists and is '
                       'not a symlink'):
        run(imagenet, out, '--classes', class_file, '--link')

    bad = str(tmp_path / 'bad.txt')
    write_class_file(bad, LISTED + [LISTED[0]])
    with pytest.raises(ValueError, match=f'repeats 1 class.*: {LISTED[0]}'):
        run(imagenet, out, '--classes', bad)
    write_class_file(bad, ['n01440764 tench'])
    with pytest.raises(ValueError, match=r"bad\.txt:3: 'n01440764 tench'; "
                       'expected one class'):
        run(imagenet, out, '--classes', bad)
    with pytest.raises(FileNotFoundError, match='class list .*nope.txt does '
                       'not exist'):
        run(imagenet, out, '--classes', str(tmp_path / 'nope.txt'))


def test_shipped_class_list():
    """CMC's imagenet100.txt: 100 unique wnids in its order (first and last
    checked here), read the same by the tool as by a plain reader."""
    # the tool's default is the shipped file
    assert osp.samefile(load_tool().DEFAULT_CLASSES, CLASS_FILE)
    with open(CLASS_FILE) as f:
        lines = [line.strip() for line in f
                 if line.strip() and not line.startswith('#')]
    assert len(lines) == 100 and len(set(lines)) == 100
    assert all(re.fullmatch(r'n\d{8}', wnid) for wnid in lines)
    assert lines[0] == 'n02869837' and lines[-1] == 'n02090622'
    from maskssl.datasets import read_class_list
    assert read_class_list(CLASS_FILE) == lines
