"""CheckedLoadImageFromFile: mmcv's loading, with an undecodable image named
in the error; our dataset configs use it."""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmpretrain.registry import TRANSFORMS

from conftest import REPO
from maskssl.utils.config import iter_cfg_dicts


def _load():
    return TRANSFORMS.build(dict(type='CheckedLoadImageFromFile'))


def test_loads_like_mmcv(toy_root):
    path = sorted(glob.glob(f'{toy_root}/train/*/*.jpg'))[0]
    ours = _load()(dict(img_path=path))
    mmcv = TRANSFORMS.build(dict(type='LoadImageFromFile'))(
        dict(img_path=path))
    assert (ours['img'] == mmcv['img']).all()
    assert ours['img_shape'] == ours['ori_shape'] == mmcv['img_shape']


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('content, size', [(b'', '0 bytes'),
                                           (b'not an image', '12 bytes')])
def test_undecodable_image_names_file_and_size(tmp_path, content, size,
                                               backend):
    path = tmp_path / 'broken.jpg'
    path.write_bytes(content)
    load = TRANSFORMS.build(dict(type='CheckedLoadImageFromFile',
                                 imdecode_backend=backend))
    with pytest.raises(ValueError, match=re.escape(
            f'image "{path}" ({size}) cannot be decoded by {backend}')):
        load(dict(img_path=str(path)))


def test_missing_file_keeps_mmcv_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        _load()(dict(img_path=str(tmp_path / 'nope.jpg')))


def test_dataset_configs_use_it():
    for path in glob.glob(osp.join(REPO, 'configs/_base_/datasets/*.py')):
        types = [d.get('type') for d in iter_cfg_dicts(
            Config.fromfile(path).to_dict())]
        assert 'CheckedLoadImageFromFile' in types, path
        assert 'LoadImageFromFile' not in types, path
