import pytest
from mmengine.config import Config

from maskssl.launch import check_dataset_paths, find_unknown_cfg_keys


def _cfg() -> Config:
    return Config(dict(
        model=dict(backbone=dict(type='ResNet', depth=50)),
        train_dataloader=dict(dataset=dict(pipeline=[dict(type='A',
                                                          scale=224)]))))


def test_unknown_keys_named_with_suggestion():
    msgs = find_unknown_cfg_keys(_cfg(), {'model.backbon.depth': 18})
    assert len(msgs) == 1
    assert 'model.backbon.depth' in msgs[0]
    assert '"backbon" is not a key of model' in msgs[0]
    assert 'did you mean backbone' in msgs[0]


def test_known_keys_and_list_indices_pass():
    assert find_unknown_cfg_keys(_cfg(), {
        'model.backbone.depth': 18,
        'train_dataloader.dataset.pipeline.0.scale': 64,
    }) == []


def test_missing_leaf_and_bad_index_are_reported():
    msgs = find_unknown_cfg_keys(_cfg(), {
        'model.backbone.frozen_stages': 1,
        'train_dataloader.dataset.pipeline.3.scale': 64,
    })
    assert len(msgs) == 2
    assert '"frozen_stages" is not a key of model.backbone' in msgs[0]
    assert '"3" is not a key of train_dataloader.dataset.pipeline' in msgs[1]


def test_check_dataset_paths(tmp_path, toy_root):
    ok = dict(train_dataloader=dict(dataset=dict(
        type='CustomDataset', data_root=toy_root, ann_file='meta/train.txt')))
    check_dataset_paths(ok)
    missing_root = dict(train_dataloader=dict(dataset=dict(
        type='CustomDataset', data_root=str(tmp_path / 'toy_nope'))))
    with pytest.raises(FileNotFoundError,
                       match=r'train_dataloader.dataset.data_root.*toy_nope'
                       r'.*make_toy_dataset'):
        check_dataset_paths(missing_root)
    missing_ann = dict(val_dataloader=dict(dataset=dict(
        type='RepeatDataset', dataset=dict(
            type='CustomDataset', data_root=toy_root,
            ann_file='meta/nope.txt'))))
    with pytest.raises(FileNotFoundError, match=r'ann_file.*meta/nope.txt'):
        check_dataset_paths(missing_ann)
