"""End to end on CPU, on the toy dataset in its real formats: a tiny MaskDeep
ResNet-50 pretraining -> extract_backbone_weights -> each ResNet benchmark
config trains a few iterations from the checkpoint (raw or extracted) through
``tools/train.py`` and evaluates with its real metric (COCO bbox/segm AP, VOC
mAP, mIoU, top-1), shrunk only through ``--cfg-options``; kNN through
``tools/benchmarks/knn_eval.py``. The saliency-masking (ResNet-50) and MST
(DeiT-S/16) checkpoints take the same path into their benchmarks."""
import glob
import json
import math
import os
import os.path as osp
import subprocess

import pytest
import torch
from filelock import FileLock
from mmpretrain.models import VisionTransformer

from conftest import PYTHON, REPO
from maskssl.datasets.toy_scenes import TOY_CLASSES

pytestmark = pytest.mark.slow

BENCH = 'configs/benchmarks'
CLASSES = '(' + ','.join(f"'{c}'" for c in TOY_CLASSES) + ')'


def _run(args, cwd=REPO, timeout=600) -> str:
    proc = subprocess.run([PYTHON, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _pretrain(tmp_path_factory, name: str, config: str, options: list,
              tensors: int = 318) -> tuple:
    """Train ``config`` for one epoch with ``options`` and extract its
    ``tensors`` backbone tensors: (raw training checkpoint, extracted
    backbone).

    Once per test session: the pytest-xdist workers of ``make test`` share
    the result through their common temp directory under a file lock (the
    pytest-xdist recipe for session fixtures), so that a module fixture that
    both workers need is not trained twice."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent
    done = root / f'{name}.json'
    with FileLock(str(root / f'{name}.lock')):
        if not done.is_file():
            work = root / name
            work.mkdir(exist_ok=True)
            done.write_text(json.dumps(_train_and_extract(
                work, config, options, tensors)))
        return tuple(json.loads(done.read_text()))


def _train_and_extract(work, config: str, options: list,
                       tensors: int) -> list:
    _run(['tools/train.py', config, '--work-dir', str(work),
          '--cfg-options', *options, 'train_dataloader.batch_size=8',
          'train_dataloader.num_workers=0', 'train_cfg.max_epochs=1'])
    raw = str(work / 'epoch_1.pth')
    extracted = str(work / 'backbone.pth')
    out = _run(['tools/model_converters/extract_backbone_weights.py', raw,
                extracted])
    assert f'wrote {tensors} backbone tensors' in out
    return [raw, extracted]


@pytest.fixture(scope='module')
def pretrained(toy_root, tmp_path_factory):
    """(raw training checkpoint, extracted backbone) of a 2-iteration MaskDeep
    ResNet-50 pretraining on 16 toy images."""
    return _pretrain(
        tmp_path_factory, 'pretrain',
        'configs/maskdeep/maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py', [
            'model.backbone.depth=50', 'model.backbone.base_channels=64',
            'model.neck.in_channels=[512,1024,2048]',
            'model.head.predictor.out_channels=2048',
            f'train_dataloader.dataset.data_root={toy_root}',
            'train_dataloader.dataset.indices=16',
            'train_dataloader.dataset.pipeline.1.num_views=[2,1]'
        ])


def _dataset(loader: str, **fields) -> list:
    return [f'{loader}.dataset.{k}={v}' for k, v in fields.items()]


def _coco(toy: str) -> list:
    opts = []
    for loader, split, n in (('train_dataloader', 'train', 4),
                             ('val_dataloader', 'val', 2)):
        opts += _dataset(loader, data_root=f'{toy}/',
                         ann_file=f'annotations/instances_{split}.json',
                         indices=n, **{'data_prefix.img': './',
                                       'metainfo.classes': CLASSES})
    return opts + [
        'train_dataloader.dataset.pipeline.2.scales=[(128,96),(128,112)]',
        'val_dataloader.dataset.pipeline.1.scale=(128,96)',
        f'val_evaluator.ann_file={toy}/annotations/instances_val.json',
        'train_cfg.max_epochs=1'
    ]


# Few proposals and RoIs: the C4 head runs layer4 on every RoI (8 sampled
# per image, the ground truth among them, which the sampler adds).
FEW_ROIS = [
    'model.train_cfg.rpn_proposal.nms_pre=100',
    'model.train_cfg.rpn_proposal.max_per_img=16',
    'model.train_cfg.rcnn.sampler.num=8',
    'model.test_cfg.rpn.nms_pre=100', 'model.test_cfg.rpn.max_per_img=8',
    'model.test_cfg.rcnn.max_per_img=5'
]


def _voc(toy: str) -> list:
    opts = []
    for i in (0, 1):  # VOC07 + VOC12 -> the toy VOC2007 twice
        key = f'train_dataloader.dataset.datasets.{i}'
        opts += [f'{key}.data_root={toy}/VOCdevkit/', f'{key}.indices=2',
                 f'{key}.ann_file=VOC2007/ImageSets/Main/trainval.txt',
                 f'{key}.data_prefix.sub_data_root=VOC2007/',
                 f'{key}.metainfo.classes={CLASSES}',
                 f'{key}.pipeline.2.scales=[(128,96),(128,112)]']
    return opts + _dataset(
        'val_dataloader', data_root=f'{toy}/VOCdevkit/', indices=2,
        **{'metainfo.classes': CLASSES, 'pipeline.1.scale': '(128,96)'}) + [
        'model.roi_head.bbox_head.num_classes=8', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2'
    ]


def _ade(toy: str) -> list:
    opts = []
    for loader, split, n in (('train_dataloader', 'training', 4),
                             ('val_dataloader', 'validation', 2)):
        opts += _dataset(
            loader, type='BaseSegDataset', data_root=f'{toy}/ade',
            img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
            indices=n, **{'data_prefix.img_path': f'images/{split}',
                          'data_prefix.seg_map_path': f'annotations/{split}',
                          'metainfo.classes': CLASSES})
    return opts + [
        'train_dataloader.dataset.pipeline.2.scale=(128,64)',
        'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
        'val_dataloader.dataset.pipeline.1.scale=(128,64)',
        'model.data_preprocessor.size=(64,64)',
        'model.decode_head.num_classes=8',
        'model.auxiliary_head.num_classes=8', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'train_dataloader.batch_size=2'
    ]


def _imagenet(toy: str) -> list:
    # the toy root is laid out as ImageNet: {train,val}/, meta/{train,val}.txt
    opts = []
    for loader, n in (('train_dataloader', 16), ('val_dataloader', 8)):
        opts += _dataset(loader, data_root=toy, indices=n,
                         **{'metainfo.classes': CLASSES})
    return opts + [
        'train_dataloader.dataset.pipeline.1.scale=64',
        'val_dataloader.dataset.pipeline.1.scale=73',
        'val_dataloader.dataset.pipeline.2.crop_size=64',
        'model.head.num_classes=8', 'train_dataloader.batch_size=16',
        'train_cfg.max_epochs=1'
    ]


# also evaluated with tools/test.py from the fine-tuned checkpoint
TEST_TOO = ('mask-rcnn-c4', 'upernet-r50')
DET = ['model.roi_head.bbox_head.num_classes=8',
       'model.roi_head.mask_head.num_classes=8']
CASES = {
    # name: (config, checkpoint keys to set, options, metric, which ckpt)
    'mask-rcnn-c4': (
        'mmdetection/mask-rcnn_r50-c4_8xb2-ms-1x_coco.py',
        ['model.backbone', 'model.roi_head.shared_head'],
        lambda t: DET + FEW_ROIS + _coco(t), 'coco/segm_mAP', 'raw'),
    'mask-rcnn-fpn': (
        'mmdetection/mask-rcnn_r50_fpn_8xb2-ms-1x_coco.py',
        ['model.backbone'], lambda t: DET + FEW_ROIS + _coco(t),
        'coco/bbox_mAP', 'extracted'),
    'faster-rcnn-c4-voc': (
        'mmdetection/faster-rcnn_r50-c4_8xb2-ms-24k_voc0712.py',
        ['model.backbone', 'model.roi_head.shared_head'],
        lambda t: FEW_ROIS + _voc(t), 'pascal_voc/mAP', 'extracted'),
    'upernet-r50': (
        'mmsegmentation/upernet_r50_4xb4-160k_ade20k-512x512.py',
        ['model.backbone'], _ade, 'mIoU', 'raw'),
    'linear-r50': (
        'classification/resnet50_8xb32-linear-steplr-100e_in1k.py',
        ['model.backbone'], _imagenet, 'accuracy/top1', 'raw'),
}


def _last_metrics(work_dir: str) -> dict:
    """The validation metrics the Runner logged last."""
    (scalars, ) = glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json'))
    with open(scalars) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if 'loss' not in r][-1]


@pytest.fixture(scope='module')
def saliency_pretrained(toy_root, tmp_path_factory):
    """(raw training checkpoint, extracted backbone) of a 2-iteration
    saliency-masking MoCo v2 ResNet-50 pretraining on 16 toy images."""
    return _pretrain(
        tmp_path_factory, 'pretrain_saliency',
        'configs/saliency_mask/'
        'saliency-mocov2-blur_resnet18-w32_1xb32-coslr-10e_toy.py', [
            'model.backbone.depth=50', 'model.backbone.base_channels=64',
            'model.neck.in_channels=2048', 'model.queue_len=64',
            f'train_dataloader.dataset.data_root={toy_root}',
            'train_dataloader.dataset.indices=16'
        ])


def _train_benchmark(name: str, checkpoints, toy_root: str, tmp_path,
                     cases: dict = None, loaded: int = 318) -> None:
    """Fine-tune benchmark ``name`` of ``cases`` (default: CASES) from
    ``checkpoints`` (raw, extracted), check that the hook proved the
    ``loaded`` tensors and that the metric is sane; for TEST_TOO also run
    tools/test.py on the result."""
    config, ckpt_keys, options, metric, which = (cases or CASES)[name]
    ckpt = checkpoints[0] if which == 'raw' else checkpoints[1]
    # only tools/test.py needs the fine-tuned checkpoint: the others skip
    # writing one (up to 1.4 GB for a ViT-B with its optimizer state)
    no_checkpoint = [] if name in TEST_TOO else [
        'default_hooks.checkpoint.interval=1000000',
        'default_hooks.checkpoint.save_last=False']
    out = _run(['tools/train.py', f'{BENCH}/{config}', '--work-dir',
                str(tmp_path), '--auto-scale-lr', '--cfg-options',
                *[f'{k}.init_cfg.checkpoint={ckpt}' for k in ckpt_keys],
                *options(toy_root), *no_checkpoint,
                'train_dataloader.num_workers=0',
                'val_dataloader.num_workers=0'])
    # the hook proved the weights loaded (ResNet-50 backbone + C4 shared
    # head: 318)
    assert (f'PretrainedCheckHook: all {loaded} loaded tensors equal their '
            'checkpoint tensors') in out
    value = _last_metrics(str(tmp_path))[metric]
    assert math.isfinite(value) and 0 <= value <= 100, value
    if name in TEST_TOO:
        # tools/test.py on the fine-tuned checkpoint: the init_cfg checkpoint
        # is not needed (nor checked) when load_from brings the weights
        test_opts = [o.replace('val_dataloader', 'test_dataloader')
                     .replace('val_evaluator', 'test_evaluator')
                     for o in options(toy_root) if o.startswith('val_')]
        (finetuned, ) = glob.glob(str(tmp_path / 'iter_2.pth')) or glob.glob(
            str(tmp_path / 'epoch_1.pth'))
        out_file = str(tmp_path / 'test.json')
        _run(['tools/test.py', f'{BENCH}/{config}', finetuned, '--work-dir',
              str(tmp_path / 'test'), '--out', out_file, '--cfg-options',
              *test_opts, *[o for o in options(toy_root)
                            if o.startswith('model.')],
              'test_dataloader.num_workers=0'])
        with open(out_file) as f:
            assert math.isfinite(json.load(f)[metric])


@pytest.mark.parametrize('name', list(CASES))
def test_benchmark_trains_and_evaluates(name, pretrained, toy_root,
                                        tmp_path):
    _train_benchmark(name, pretrained, toy_root, tmp_path)


@pytest.mark.parametrize('name', ['linear-r50', 'faster-rcnn-c4-voc'])
def test_saliency_checkpoint_transfers(name, saliency_pretrained, toy_root,
                                       tmp_path):
    """A saliency-masking MoCo v2 checkpoint goes through the same path:
    the raw file into the linear probe, the extracted one into C4 VOC."""
    _train_benchmark(name, saliency_pretrained, toy_root, tmp_path)


def _knn(config: str, checkpoint: str, toy_root: str, tmp_path) -> dict:
    out_file = str(tmp_path / 'knn.json')
    _run(['tools/benchmarks/knn_eval.py', f'{BENCH}/classification/{config}',
          checkpoint, '--data-root', toy_root, '--img-size', '64', '--k',
          '10', '20', '--num-workers', '0', '--out', out_file])
    with open(out_file) as f:
        results = json.load(f)
    assert set(results) >= {'k10_top1', 'k20_top1'}, results
    return results


def test_knn(pretrained, toy_root, tmp_path):
    results = _knn('resnet50_knn_in1k.py', pretrained[1], toy_root, tmp_path)
    # 16 val images of 8 classes: well above zero is not guaranteed, but the
    # accuracy is a fraction of 16 images in percent
    for value in results.values():
        assert 0 <= value <= 100 and (value * 16 / 100) == pytest.approx(
            round(value * 16 / 100), abs=1e-6)


def test_wrong_checkpoint_stops_before_training(toy_root, tmp_path):
    """Through the real entry point: a ViT checkpoint given to the ResNet
    linear probe stops the run before any training, naming the config key,
    the file and the mismatch."""
    vit = str(tmp_path / 'mae_vit-tiny.pth')
    torch.save({'state_dict': {
        f'backbone.{k}': v
        for k, v in VisionTransformer(arch='deit-tiny').state_dict().items()
    }}, vit)
    proc = subprocess.run(
        [PYTHON, 'tools/train.py',
         f'{BENCH}/classification/resnet50_8xb32-linear-steplr-100e_in1k.py',
         '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         f'model.backbone.init_cfg.checkpoint={vit}', *_imagenet(toy_root)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    err = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode != 0
    assert err.startswith('ValueError: model.backbone.init_cfg.checkpoint')
    assert 'mae_vit-tiny.pth' in err and 'model.backbone (ResNet)' in err
    assert 'cls_token' in err
    assert 'Epoch(train)' not in proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def mst_pretrained(toy_root, tmp_path_factory):
    """(raw training checkpoint, extracted backbone) of a 2-iteration MST
    DeiT-S/16 pretraining (the toy config at the benchmarks' arch: 48-px
    global views, a 4-stage decoder) on 16 toy images: the 150 tensors of
    mmpretrain's VisionTransformer and the [MASK] embedding."""
    return _pretrain(
        tmp_path_factory, 'pretrain_mst',
        'configs/mst/mst_vit-tiny-p8_1xb32-coslr-10e_toy.py', [
            'model.backbone.arch=deit-small', 'model.backbone.patch_size=16',
            'model.backbone.img_size=224', 'model.neck.in_channels=384',
            'model.decoder.in_channels=384',
            'model.decoder.channels=[32,16,16,8]',
            f'train_dataloader.dataset.data_root={toy_root}',
            'train_dataloader.dataset.indices=16'
        ], tensors=151)


def _setr(toy: str) -> list:
    """The ADE20K-style toy data for the Cityscapes SETR config (its three
    auxiliary heads, 64-px slide inference)."""
    return [o for o in _ade(toy) if not o.startswith('model.auxiliary')] + [
        f'model.auxiliary_head.{i}.num_classes=8' for i in range(3)
    ] + ['model.test_cfg.crop_size=(64,64)', 'model.test_cfg.stride=(48,48)']


MST_CASES = {
    'linear-deit-4blocks': (
        'classification/vit-small-p16_dino-linear-4blocks_8xb128-coslr-'
        '100e_in1k.py', ['model.backbone'], _imagenet, 'accuracy/top1',
        'raw'),
    'setr-deit': (
        'mmsegmentation/setr-naive_deit-small-p16_8xb1-40k_cityscapes-'
        '768x768.py', ['model.backbone'], _setr, 'mIoU', 'extracted'),
}


# tensors proved equal to the checkpoint's: the 150 of the ViT (not the
# [MASK] embedding); SETR resizes pos_embed to its 768-px grid
MST_LOADED = {'linear-deit-4blocks': 150, 'setr-deit': 149}


@pytest.mark.parametrize('name', list(MST_CASES))
def test_mst_checkpoint_transfers(name, mst_pretrained, toy_root, tmp_path):
    """An MST checkpoint, raw into DINO's 4-block linear probe and extracted
    into SETR."""
    _train_benchmark(name, mst_pretrained, toy_root, tmp_path, MST_CASES,
                     loaded=MST_LOADED[name])


def test_mst_knn(mst_pretrained, toy_root, tmp_path):
    for checkpoint in mst_pretrained:  # raw and extracted
        results = _knn('vit-small-p16_knn_in1k.py', checkpoint, toy_root,
                       tmp_path)
        assert all(0 <= v <= 100 for v in results.values())


@pytest.fixture(scope='module')
def mst_swin_pretrained(toy_root, tmp_path_factory):
    """(raw training checkpoint, extracted backbone) of a 2-iteration MST
    Swin-T pretraining on 16 toy images: the toy config with the Swin-T
    config's backbone, 64-px global views (a 2 x 2 last stage restored by a
    5-stage decoder) and 24-px local views."""
    views = 'train_dataloader.dataset.pipeline.1.transforms'
    return _pretrain(
        tmp_path_factory, 'pretrain_mst_swin',
        'configs/mst/mst_vit-tiny-p8_1xb32-coslr-10e_toy.py', [
            'model.backbone.type=MSTSwinTransformer',
            'model.backbone.arch=tiny', 'model.backbone.img_size=224',
            'model.backbone.out_type=avg_featmap',
            'model.backbone.patch_size=4', 'model.neck.in_channels=768',
            'model.decoder.in_channels=768',
            'model.decoder.channels=[32,16,16,8,8]',
            f'{views}.0.0.scale=64', f'{views}.1.0.scale=64',
            f'train_dataloader.dataset.data_root={toy_root}',
            'train_dataloader.dataset.indices=16'
        ], tensors=SWIN_TENSORS + 1)


def _swin_coco(toy: str) -> list:
    """The COCO-style toy data for the Swin-T Mask R-CNN config: 224 px on
    the short side (a Swin without pad_small_map needs stride-32 maps of at
    least its 7 x 7 window), single-scale as the config."""
    return DET + FEW_ROIS + [
        o for o in _coco(toy) if '.pipeline.' not in o
    ] + ['train_dataloader.dataset.pipeline.2.scale=(320,224)',
         'val_dataloader.dataset.pipeline.1.scale=(320,224)']


# mmpretrain's Swin-T: 183 tensors (+ MST's [MASK] embedding in the file);
# the detector starts the norms of stages 1-3 afresh and resizes nothing
SWIN_TENSORS = 183


def test_mst_swin_checkpoint_transfers(mst_swin_pretrained, toy_root,
                                       tmp_path):
    """A tiny MST Swin-T checkpoint, extracted, into the Swin-T Mask R-CNN
    config: every Swin tensor but the [MASK] embedding loaded."""
    cases = {'mask-rcnn-swin': (
        'mmdetection/mask-rcnn_swin-tiny_fpn_8xb2-1x_coco.py',
        ['model.backbone'], _swin_coco, 'coco/bbox_mAP', 'extracted')}
    _train_benchmark('mask-rcnn-swin', mst_swin_pretrained, toy_root,
                     tmp_path, cases, loaded=SWIN_TENSORS)


@pytest.fixture(scope='module')
def ehm_pretrained(toy_root, tmp_path_factory):
    """(raw training checkpoint, extracted backbone) of a 1-iteration EHM-MAE
    ViT-B/16 pretraining (the toy config at the benchmarks' arch: 224 px, a
    1-block decoder) on 8 toy images: mmpretrain's 150 ViT tensors."""
    return _pretrain(
        tmp_path_factory, 'pretrain_ehm',
        'configs/ehm/ehm-mae_vit-tiny-p4_1xb32-coslr-10e_toy.py', [
            'model.backbone.arch=base', 'model.backbone.patch_size=16',
            'model.backbone.img_size=224', 'model.neck.num_patches=196',
            'model.neck.patch_size=16', 'model.neck.embed_dim=768',
            'model.neck.decoder_embed_dim=32', 'model.neck.decoder_depth=1',
            'model.neck.decoder_num_heads=2', 'model.head.patch_size=16',
            'train_dataloader.dataset.pipeline.1.scale=224',
            f'train_dataloader.dataset.data_root={toy_root}',
            'train_dataloader.dataset.indices=8'
        ], tensors=150)


EHM_CASES = {
    'finetune-vit': (
        'classification/vit-base-p16_8xb128-coslr-100e_in1k.py',
        ['model.backbone'],
        lambda t: _imagenet(t) + ['data_preprocessor.num_classes=8'],
        'accuracy/top1', 'raw'),
    'linear-vit': (
        'classification/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py',
        ['model.backbone'], _imagenet, 'accuracy/top1', 'extracted'),
    'upernet-vit': (
        'mmsegmentation/upernet_vit-base-p16_8xb2-160k_ade20k-512x512.py',
        ['model.backbone'], _ade, 'mIoU', 'raw'),
    'mask-rcnn-vit': (
        'mmdetection/mask-rcnn_vit-base-p16_simple-fpn_8xb2-ms-1x_coco.py',
        ['model.backbone'], lambda t: DET + FEW_ROIS + _coco(t),
        'coco/bbox_mAP', 'extracted'),
}
# tensors proved equal to the checkpoint's, of the ViT-B's 150: the linear
# probe takes them all; the fine-tune, UperNet and Mask R-CNN backbones
# have their own final norm (ln2, or none), and the last two resize the
# position embedding to their image size
EHM_LOADED = {'finetune-vit': 148, 'linear-vit': 150, 'upernet-vit': 147,
              'mask-rcnn-vit': 147}


@pytest.mark.parametrize('name', list(EHM_CASES))
def test_ehm_checkpoint_transfers(name, ehm_pretrained, toy_root, tmp_path):
    """An EHM-MAE checkpoint, raw and extracted, into the ViT-B fine-tune,
    linear, UperNet and Mask R-CNN configs."""
    _train_benchmark(name, ehm_pretrained, toy_root, tmp_path, EHM_CASES,
                     loaded=EHM_LOADED[name])
