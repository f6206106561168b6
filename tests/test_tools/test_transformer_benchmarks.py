"""The ViT and Swin benchmark configs build, take every backbone tensor of a
pretraining checkpoint (resizing the position embedding where the image size
differs) and run one training iteration through their own pipelines on the
toy data, with their own optimizer (layer decay included)."""
import copy
import math
import os.path as osp
from typing import NamedTuple, Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate, pseudo_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DATASETS, MODELS, DefaultScope
from mmengine.runner import set_random_seed
from mmpretrain.models import SwinTransformer, VisionTransformer

from conftest import REPO, pretrained_check_args, set_pretrained_checkpoint
from maskssl.datasets.toy_scenes import TOY_CLASSES
from maskssl.utils.config import iter_cfg_dicts
from maskssl.checkpoint.pretrained import check_pretrained, verify_pretrained

BENCH = osp.join(REPO, 'configs', 'benchmarks')
NUM_CLASSES = len(TOY_CLASSES)


def _vit(arch):
    return lambda: VisionTransformer(arch=arch, img_size=224, patch_size=16)


# the backbone maskssl pretrains for each config
PRETRAIN_BACKBONES = {
    'vit-base': _vit('base'),
    'deit-small': _vit('deit-small'),
    'swin-tiny': lambda: SwinTransformer(arch='tiny'),
}


class Case(NamedTuple):
    config: str  # under configs/benchmarks/
    backbone: str  # key of PRETRAIN_BACKBONES
    kind: str  # det / seg / cls
    key: str  # a backbone tensor compared with the checkpoint by hand
    resized: bool = False  # pos_embed resized on load (another img_size)
    frozen: bool = False  # linear probe: the backbone does not train
    fresh: Tuple[str, ...] = ()  # backbone keys the protocol starts afresh
    # the training resize scale (w, h); a Swin needs stride-32 maps of at
    # least its window (7) without pad_small_map, so 224 px on the short side
    scale: Tuple[int, int] = (128, 96)


QKV = 'layers.0.attn.qkv.weight'
CASES = {
    'vit-det': Case('mmdetection/mask-rcnn_vit-base-p16_simple-fpn_8xb2-ms-'
                    '1x_coco.py', 'vit-base', 'det', QKV, resized=True),
    'swin-det': Case('mmdetection/mask-rcnn_swin-tiny_fpn_8xb2-1x_coco.py',
                     'swin-tiny', 'det',
                     'stages.0.blocks.0.attn.w_msa.qkv.weight',
                     fresh=tuple(f'norm{i}.{p}' for i in range(3)
                                 for p in ('weight', 'bias')),
                     scale=(320, 224)),
    'vit-upernet': Case('mmsegmentation/upernet_vit-base-p16_8xb2-160k_'
                        'ade20k-512x512.py', 'vit-base', 'seg', QKV,
                        resized=True, scale=(128, 64)),
    'deit-setr': Case('mmsegmentation/setr-naive_deit-small-p16_8xb1-40k_'
                      'cityscapes-768x768.py', 'deit-small', 'seg', QKV,
                      resized=True, scale=(128, 64)),
    'vit-linear': Case('classification/vit-base-p16_8xb2048-linear-coslr-'
                       '90e_in1k.py', 'vit-base', 'cls', QKV, frozen=True),
    'deit-dino-linear': Case('classification/vit-small-p16_dino-linear-'
                             '4blocks_8xb128-coslr-100e_in1k.py',
                             'deit-small', 'cls', 'ln1.weight', frozen=True),
    'vit-finetune': Case('classification/vit-base-p16_8xb128-coslr-100e_'
                         'in1k.py', 'vit-base', 'cls',
                         'layers.11.ffn.layers.1.weight',
                         fresh=('ln2.weight', 'ln2.bias')),
}


@pytest.fixture(scope='module')
def fake_checkpoints(tmp_path_factory):
    """A pretraining checkpoint with random tensors for each backbone, made
    on first use."""
    root = tmp_path_factory.mktemp('pretrain')
    made = {}

    def get(name):
        if name not in made:
            torch.manual_seed(len(made))
            state = PRETRAIN_BACKBONES[name]().state_dict()
            with torch.no_grad():
                for value in state.values():
                    if value.is_floating_point():
                        value.normal_(0, 0.02)
            path = str(root / f'{name}.pth')
            torch.save(dict(meta=dict(), state_dict={
                f'backbone.{k}': v for k, v in state.items()}), path)
            made[name] = path, state
        return made[name]

    return get


def _set_num_classes(model_cfg):
    for node in iter_cfg_dicts(model_cfg):
        if 'num_classes' in node:
            node['num_classes'] = NUM_CLASSES


def _shrink_pipeline(pipeline, case):
    """Small resize scales and crops (64 px, a multiple of the patch), so
    that a step takes a moment."""
    for step in pipeline:
        if 'scales' in step:  # RandomChoiceResize
            step['scales'] = [case.scale]
        elif 'scale' in step:  # Resize, RandomResize, RandomResizedCrop
            step['scale'] = 64 if case.kind == 'cls' else case.scale
        if 'crop_size' in step:
            step['crop_size'] = (64, 64)


def _toy_dataset(cfg, case, toy_root):
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    while 'dataset' in dataset:  # unwrap RepeatDataset and the like
        dataset = dataset.dataset
    pipeline = dataset.pipeline
    _shrink_pipeline(pipeline, case)
    metainfo = dict(classes=TOY_CLASSES)
    if case.kind == 'det':
        dataset.update(data_root=toy_root,
                       ann_file='annotations/instances_train.json',
                       data_prefix=dict(img=''), metainfo=metainfo)
    elif case.kind == 'seg':
        dataset = dict(
            type='BaseSegDataset', data_root=osp.join(toy_root, 'ade'),
            data_prefix=dict(img_path='images/training',
                             seg_map_path='annotations/training'),
            img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
            metainfo=metainfo, pipeline=pipeline)
    else:
        dataset = dict(type='CustomDataset', data_root=toy_root,
                       data_prefix='train', ann_file='meta/train.txt',
                       pipeline=pipeline)
    return DATASETS.build(dataset)


def _plain_optim_wrapper(cfg):
    """The config's optim wrapper, without AMP (CPU)."""
    optim = copy.deepcopy(cfg.optim_wrapper)
    if optim.get('type') == 'AmpOptimWrapper':
        optim['type'] = 'OptimWrapper'
        optim.pop('loss_scale', None)
    return optim


def _build_model(cfg, kind, checkpoint):
    model_cfg = copy.deepcopy(cfg.model)
    set_pretrained_checkpoint(model_cfg, checkpoint)
    _set_num_classes(model_cfg)
    if kind == 'cls':  # the Runner adds the top-level data_preprocessor
        model_cfg.setdefault('data_preprocessor',
                             copy.deepcopy(cfg.data_preprocessor))
        model_cfg.data_preprocessor['num_classes'] = NUM_CLASSES
    if kind == 'seg':
        model_cfg.data_preprocessor['size'] = (64, 64)
    if kind == 'det':  # fewer RoIs: the heads' convolutions dominate on CPU
        model_cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
        model_cfg.train_cfg.rcnn.sampler.num = 32
    return revert_sync_batchnorm(MODELS.build(model_cfg))


def _check_layer_decay(cfg, optim_wrapper, kind):
    """Where the config decays the lr by depth, the patch embedding gets
    rate ** 13 of it and the head all of it (12 blocks)."""
    rate = cfg.optim_wrapper.get('paramwise_cfg', {}).get('layer_decay_rate')
    if rate is None:
        return
    base = cfg.optim_wrapper.optimizer.lr
    lrs = {g['param_name']: g['lr']
           for g in optim_wrapper.optimizer.param_groups}
    head = next(n for n in lrs if n.startswith(
        dict(seg='decode_head.', cls='head.')[kind]))
    assert lrs['backbone.patch_embed.projection.weight'] == pytest.approx(
        base * rate**13)
    assert lrs['backbone.layers.11.attn.qkv.weight'] == pytest.approx(
        base * rate)
    assert lrs[head] == pytest.approx(base)


def _head(model, kind):
    """The module that must train in every protocol."""
    return getattr(model, dict(det='roi_head', seg='decode_head',
                               cls='head')[kind])


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before, module):
    return [k for k, v in module.named_parameters()
            if not torch.equal(v.detach(), before[k])]


@pytest.mark.parametrize('name', list(CASES))
def test_transformer_benchmark_loads_and_trains(name, fake_checkpoints,
                                                toy_root):
    case = CASES[name]
    kind = case.kind
    checkpoint, pretrained = fake_checkpoints(case.backbone)
    cfg = Config.fromfile(osp.join(BENCH, case.config))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        set_random_seed(0)  # weights, and the pipelines' random crops
        model = _build_model(cfg, kind, checkpoint)

        # (1) every backbone tensor comes from the checkpoint
        loads = check_pretrained(model, **pretrained_check_args(cfg))
        model.init_weights()
        count = verify_pretrained(loads)
        assert count > 0
        assert [load.name for load in loads] == ['backbone']
        assert ('pos_embed' in loads[0].resized) == case.resized
        own = model.backbone.state_dict()
        assert torch.equal(own[case.key], pretrained[case.key])
        assert set(own) - set(loads[0].state) == set(case.fresh)
        assert count == len(loads[0].state) - len(loads[0].resized)

        # (2) one iteration on toy data through the config's pipeline
        dataset = _toy_dataset(cfg, case, toy_root)
        collate = default_collate if kind == 'cls' else pseudo_collate
        data = collate([dataset[0], dataset[1]])
        optim_wrapper = build_optim_wrapper(model, _plain_optim_wrapper(cfg))
        _check_layer_decay(cfg, optim_wrapper, kind)
        backbone_before = _snapshot(model.backbone)
        head_before = _snapshot(_head(model, kind))
        model.train()
        log_vars = model.train_step(data, optim_wrapper)

    assert 'loss' in log_vars
    for loss_name, value in log_vars.items():
        assert math.isfinite(float(value)), (loss_name, value)
    changed = _changed(backbone_before, model.backbone)
    if case.frozen:
        assert changed == []
    else:
        assert changed
    assert _changed(head_before, _head(model, kind))
