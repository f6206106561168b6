"""HighPassClsDataPreprocessor (issue 11): the linear probe of a high-pass
pretrained model sees exactly the pretraining's input, ``HighPassFill``'s
``input_transform`` of the normalised batch; and the high-pass linear-probe
configs build and train their head on toy images."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.registry import DATASETS, MODELS
from mmpretrain.structures import DataSample

from conftest import REPO
from maskssl.analysis.benchmark import rescale_crops
from maskssl.models.data_preprocessors import HighPassClsDataPreprocessor
from maskssl.models.saliency import HighPassFill

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
            to_rgb=True)
CLS_DIR = osp.join(REPO, 'configs', 'benchmarks', 'classification')
PREFIX = 'resnet50_8xb32-linear-steplr-100e_'
DATASETS_ = ('in100', 'caltech101', 'flowers102')


def _config(name: str) -> Config:
    return Config.fromfile(osp.join(CLS_DIR, f'{PREFIX}{name}.py'))


def _batch(b: int = 3, size=(40, 36), seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (b, 3, *size), dtype=torch.uint8,
                           generator=g)
    samples = [DataSample().set_gt_label(i % 5) for i in range(b)]
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('training', [False, True])
def test_equals_high_pass_fill_of_cls_preprocessor(training):
    data = _batch()
    expected = HighPassFill().input_transform(
        ClsDataPreprocessor(**NORM)(_batch(), training)['inputs'])
    out = HighPassClsDataPreprocessor(**NORM)(data, training)
    assert out['inputs'].dtype == torch.float32
    assert torch.equal(out['inputs'], expected)
    # the filter did something: not the normalised batch itself
    assert not torch.allclose(
        out['inputs'], ClsDataPreprocessor(**NORM)(_batch())['inputs'])


def test_labels_pass_through():
    data = _batch(b=4)
    ref = ClsDataPreprocessor(**NORM, num_classes=5)(_batch(b=4))
    out = HighPassClsDataPreprocessor(**NORM, num_classes=5)(data)
    assert out['data_samples'] is data['data_samples']
    for got, want in zip(out['data_samples'], ref['data_samples']):
        assert torch.equal(got.gt_label, want.gt_label)
    assert [int(s.gt_label) for s in out['data_samples']] == [0, 1, 2, 3]


def test_list_inputs_as_cls_preprocessor():
    """The pseudo-collate branch (a list of images) gives the same batch."""
    data = _batch(b=2)
    listed = dict(inputs=list(data['inputs']),
                  data_samples=data['data_samples'])
    out = HighPassClsDataPreprocessor(**NORM)(listed)
    assert torch.equal(out['inputs'],
                       HighPassClsDataPreprocessor(**NORM)(_batch(b=2))
                       ['inputs'])


def test_defaults_and_arguments_are_high_pass_fills():
    pre = HighPassClsDataPreprocessor(**NORM)
    fill = HighPassFill()
    assert (pre.blur_kernel_size, pre.blur_sigma) == \
        (fill.blur_kernel_size, fill.blur_sigma) == (11, 5.0)
    pre = HighPassClsDataPreprocessor(**NORM, blur_kernel_size=5,
                                      blur_sigma=1.5)
    fill = HighPassFill(blur_kernel_size=5, blur_sigma=1.5)
    expected = fill.input_transform(ClsDataPreprocessor(**NORM)(_batch())
                                    ['inputs'])
    assert torch.equal(pre(_batch())['inputs'], expected)


def test_registered_and_positional_args_as_cls_preprocessor():
    pre = MODELS.build(dict(type='HighPassClsDataPreprocessor', **NORM))
    assert type(pre) is HighPassClsDataPreprocessor
    # ClsDataPreprocessor's positional order (mean, std, ...) is kept
    pre = HighPassClsDataPreprocessor(NORM['mean'], NORM['std'], 1, 0, True)
    assert torch.equal(pre(_batch())['inputs'],
                       HighPassClsDataPreprocessor(**NORM)(_batch())
                       ['inputs'])


@pytest.mark.parametrize('kwargs, match', [
    (dict(to_rgb=True), 'no mean and std'),
    (dict(NORM, blur_kernel_size=4), 'blur_kernel_size=4'),
    (dict(NORM, blur_sigma=0), 'blur_sigma=0'),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HighPassClsDataPreprocessor(**kwargs)


def test_too_small_images_name_the_kernel():
    with pytest.raises(ValueError, match='blur_kernel_size=11 is too large'):
        HighPassClsDataPreprocessor(**NORM)(_batch(size=(5, 8)))


@pytest.mark.parametrize('name', DATASETS_)
def test_high_pass_config_differs_only_in_preprocessor(name):
    """``*-highpass.py`` is its plain config plus the high-pass filter."""
    plain, high = _config(name).to_dict(), _config(f'{name}-highpass')
    high = high.to_dict()
    for cfg in (high, high['model']):
        pre = cfg.pop('data_preprocessor')
        assert pre.pop('type') == 'HighPassClsDataPreprocessor'
        assert (pre.pop('blur_kernel_size'), pre.pop('blur_sigma')) == \
            (11, 5.0)
        assert pre == plain['model']['data_preprocessor']
    plain.pop('data_preprocessor')
    plain['model'].pop('data_preprocessor')
    assert high == plain


@pytest.mark.parametrize('name, num_classes', [
    ('in100', 100), ('caltech101', 102), ('flowers102', 102)])
def test_linear_protocol(name, num_classes):
    """The in1k linear protocol (SGD lr 30, momentum 0.9, no weight decay,
    100 epochs, x0.1 at 60 and 80, batch 8 x 32) on every dataset."""
    in1k = _config('in1k')
    for suffix in ('', '-highpass'):
        cfg = _config(name + suffix)
        assert cfg.model.head.num_classes == num_classes
        assert cfg.model.data_preprocessor.num_classes == num_classes
        assert cfg.data_preprocessor == cfg.model.data_preprocessor
        for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                    'auto_scale_lr'):
            assert cfg[key] == in1k[key], key
        assert cfg.optim_wrapper.optimizer.lr == 30
        assert cfg.param_scheduler[0].milestones == [60, 80]
        assert cfg.train_cfg.max_epochs == 100
        assert cfg.train_dataloader.batch_size == 32
        assert cfg.model.backbone.frozen_stages == 4


def test_in100_data_matches_make_imagenet100():
    cfg = _config('in100')
    for loader, split in ((cfg.train_dataloader, 'train'),
                          (cfg.val_dataloader, 'val'),
                          (cfg.test_dataloader, 'val')):
        ds = loader.dataset
        assert ds.type == 'CustomDataset'
        assert ds.data_root == 'data/imagenet100/'
        assert ds.ann_file == f'meta/{split}.txt'
        assert ds.data_prefix == split


@pytest.mark.parametrize('name', DATASETS_)
def test_high_pass_config_trains_its_head_on_toy_images(name, toy_root):
    """A random backbone (no checkpoint in tests), the config's pipeline at
    56 px (crops scaled 1/4) on the toy ImageNet-style folders: the model's
    preprocessor high-passes, and a train step with the config's optimizer
    gives a finite loss and moves the head only (the backbone is frozen)."""
    cfg = _config(f'{name}-highpass')
    cfg.model.backbone.init_cfg = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    assert type(model.data_preprocessor) is HighPassClsDataPreprocessor
    # the plain configs' pipelines; the toy folders stand in for the data
    pipeline = cfg.train_dataloader.dataset.pipeline
    rescale_crops(pipeline, 1 / 4)
    dataset = DATASETS.build(
        dict(type='CustomDataset', data_root=toy_root,
             ann_file='meta/train.txt', data_prefix='train',
             pipeline=pipeline))
    data = default_collate([dataset[i] for i in range(4)])
    with torch.no_grad():
        inputs = model.data_preprocessor(data, True)['inputs']
    assert inputs.shape == (4, 3, 56, 56)
    assert torch.equal(inputs, HighPassFill().input_transform(
        ClsDataPreprocessor(**NORM)(data)['inputs']))

    model.train()
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert math.isfinite(losses['loss'].item())

    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    backbone = [p.detach().clone() for p in model.backbone.parameters()]
    head = [p.detach().clone() for p in model.head.parameters()]
    loss = model.train_step(data, optim_wrapper)['loss']
    assert math.isfinite(loss.item()) and loss.item() > 0
    assert all(torch.equal(a, b)
               for a, b in zip(backbone, model.backbone.parameters()))
    assert any(not torch.equal(a, b)
               for a, b in zip(head, model.head.parameters()))
