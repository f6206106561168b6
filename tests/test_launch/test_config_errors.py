"""Config errors reported where the config is read: syntax errors name the
file (the config or a ``_base_``) and the line; an empty or too small
annotation file names the key, the file, the count and the batch size."""
import re

import pytest
from mmengine.config import Config

from maskssl.launch import check_dataset_sizes, load_config, prepare_launch


def test_syntax_error_names_config_file_and_line(tmp_path):
    path = tmp_path / 'broken.py'
    path.write_text('model = dict(\n    depth=18,\n    width=[1, 2)\n')
    with pytest.raises(SyntaxError) as info:
        load_config(str(path))
    message = str(info.value)
    assert f'config file "{path}", line 3' in message
    assert 'width=[1, 2)' in message
    assert '<unknown>' not in message
    assert info.value.filename == str(path) and info.value.lineno == 3


def test_syntax_error_in_base_names_the_base(tmp_path):
    (tmp_path / '_base_').mkdir()
    base = tmp_path / '_base_' / 'data.py'
    base.write_text('batch_size = 8\nroot = "data/toy\n')
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./_base_/data.py']\nlr = 0.1\n")
    with pytest.raises(SyntaxError,
                       match=re.escape(f'config file "{base}" (a _base_ of '
                                       f'"{child}"), line 2')):
        load_config(str(child))


def _loader(root, ann='meta/train.txt', batch_size=4, drop_last=True):
    return dict(batch_size=batch_size, drop_last=drop_last,
                dataset=dict(type='CustomDataset', data_root=str(root),
                             ann_file=ann))


def _ann(tmp_path, lines):
    (tmp_path / 'meta').mkdir(exist_ok=True)
    (tmp_path / 'meta' / 'train.txt').write_text(lines)
    return tmp_path / 'meta' / 'train.txt'


def test_empty_ann_file_names_key_and_file(tmp_path):
    ann = _ann(tmp_path, '\n  \n')  # blank lines are no samples
    cfg = dict(train_dataloader=_loader(tmp_path, drop_last=False))
    with pytest.raises(ValueError,
                       match=re.escape(f'train_dataloader.dataset.ann_file: '
                                       f'"{ann}" lists no samples')):
        check_dataset_sizes(cfg)
    # inside a dataset wrapper too
    wrapped = dict(val_dataloader=dict(batch_size=1, dataset=dict(
        type='RepeatDataset', times=2,
        dataset=_loader(tmp_path)['dataset'])))
    with pytest.raises(ValueError, match='val_dataloader.dataset.ann_file'):
        check_dataset_sizes(wrapped)


def test_fewer_samples_than_a_batch_with_drop_last(tmp_path, monkeypatch):
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    ann = _ann(tmp_path, 'a.png 0\nb.png 1\nc.png 0\n')
    with pytest.raises(ValueError,
                       match=re.escape(
                           f'train_dataloader.dataset.ann_file: "{ann}" lists '
                           '3 samples, fewer than one batch '
                           '(train_dataloader.batch_size=4)')):
        check_dataset_sizes(dict(train_dataloader=_loader(tmp_path)))
    # enough samples, or no drop_last: fine
    check_dataset_sizes(dict(train_dataloader=_loader(tmp_path, batch_size=3)))
    check_dataset_sizes(dict(train_dataloader=_loader(tmp_path,
                                                      drop_last=False)))
    # each of 2 ranks gets ceil(3 / 2) = 2 samples
    monkeypatch.setenv('WORLD_SIZE', '2')
    with pytest.raises(ValueError, match=r'batch_size=3 on each of '
                       r'WORLD_SIZE=2 ranks.*at least 6 samples'):
        check_dataset_sizes(dict(train_dataloader=_loader(tmp_path,
                                                          batch_size=3)))
    check_dataset_sizes(dict(train_dataloader=_loader(tmp_path,
                                                      batch_size=2)))


def test_prepare_launch_checks_sizes(tmp_path, toy_root, monkeypatch):
    """The toy config with a batch larger than the toy split (48 scenes)
    stops in prepare_launch, before any Runner is built."""
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    cfg = Config(dict(train_dataloader=dict(
        batch_size=64, drop_last=True, dataset=dict(
            type='CustomDataset', data_root=toy_root,
            ann_file='meta/train.txt', data_prefix='train'))))
    with pytest.raises(ValueError, match=r'lists 48 samples, fewer than one '
                       r'batch \(train_dataloader.batch_size=64\)'):
        prepare_launch(cfg, 'none')
