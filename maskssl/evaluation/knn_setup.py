"""Build the kNN evaluation of a pretraining config: backbone, normalisation
and the ImageNet-style train/val loaders (used by
``tools/benchmarks/knn_eval.py`` and ``make demo``)."""
import copy
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..checkpoint.io import load_backbone_weights
from ..launch.config_checks import count_annotation_lines
from ..utils.init_weights import init_weights_quietly
from .knn import check_knn_args, knn_evaluate


def knn_dataloader(data_root: str, split: str, img_size: int,
                   batch_size: int = 128, num_workers: int = 2) -> DataLoader:
    """Loader over an ImageNet-style split (``{split}/`` and
    ``meta/{split}.txt`` under ``data_root``), resized on the short edge to
    ``img_size * 256 / 224`` and centre-cropped to ``img_size``.

    Raises:
        FileNotFoundError: naming a missing folder or annotation file.
        ValueError: naming an annotation file that lists no image.
    """
    ann_file = osp.join(data_root, 'meta', f'{split}.txt')
    for path in (osp.join(data_root, split), ann_file):
        if not osp.exists(path):
            raise FileNotFoundError(
                f'kNN {split} split: "{path}" does not exist; expected an '
                f'ImageNet-style dataset root with {split}/ and '
                f'meta/{split}.txt')
    if count_annotation_lines(ann_file) == 0:
        raise ValueError(
            f'kNN {split} split: "{ann_file}" lists no images (no non-empty '
            'line); expected one "path label" line per image')
    pipeline = [
        dict(type='CheckedLoadImageFromFile'),
        dict(type='ResizeEdge', scale=img_size * 256 // 224, edge='short',
             backend='pillow', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=img_size),
        dict(type='PackInputs'),
    ]
    return Runner.build_dataloader(
        dict(
            batch_size=batch_size,
            num_workers=num_workers,
            persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='CustomDataset', data_root=data_root,
                         data_prefix=split, ann_file=f'meta/{split}.txt',
                         pipeline=pipeline)))


def build_cls_data_preprocessor(
        data_preprocessor: Optional[dict] = None) -> nn.Module:
    """A ``ClsDataPreprocessor`` with the normalisation of a model config's
    ``data_preprocessor`` dict: its ``mean``, ``std`` and colour order
    (``to_rgb``, or ``bgr_to_rgb`` as mmdet/mmseg name it); ImageNet mean/std
    and BGR -> RGB where ``data_preprocessor`` is ``None`` or lacks them."""
    pre = data_preprocessor or {}
    return MODELS.build(
        dict(type='ClsDataPreprocessor',
             mean=pre.get('mean', [123.675, 116.28, 103.53]),
             std=pre.get('std', [58.395, 57.12, 57.375]),
             to_rgb=pre.get('to_rgb', pre.get('bgr_to_rgb', True))))


def build_backbone_and_preprocessor(
        cfg: Config,
        checkpoint: Optional[str] = None,
        init_seed: int = 0) -> Tuple[nn.Module, nn.Module]:
    """The config's backbone (SyncBN reverted to BN), loaded from
    ``checkpoint`` (``None``: random init from ``init_seed``, so that the
    random-init baseline is the same in every run; the global RNG is left
    as it was), and a classification data preprocessor with the config's
    mean, std and colour order. Checkpoint keys matching
    ``cfg.knn.allow_unexpected`` patterns are not loaded (e.g.
    ``['mask_token']``)."""
    if checkpoint is None:
        with torch.random.fork_rng():
            torch.manual_seed(init_seed)
            backbone = MODELS.build(copy.deepcopy(cfg.model.backbone))
            init_weights_quietly(backbone)
    else:
        backbone = MODELS.build(copy.deepcopy(cfg.model.backbone))
        load_backbone_weights(
            backbone, checkpoint,
            allow_unexpected=(cfg.get('knn') or {}).get('allow_unexpected',
                                                        ()))
    preprocessor = build_cls_data_preprocessor(
        cfg.model.get('data_preprocessor'))
    return revert_sync_batchnorm(backbone), preprocessor


def knn_evaluate_config(cfg: Config,
                        checkpoint: Optional[str],
                        data_root: str,
                        img_size: int,
                        ks: Sequence[int] = (20, ),
                        temperature: float = 0.07,
                        batch_size: int = 128,
                        num_workers: int = 2,
                        init_seed: int = 0) -> Dict[str, float]:
    """Weighted kNN of ``cfg``'s backbone loaded from ``checkpoint``
    (``None``: random init from ``init_seed``) on the ImageNet-style
    ``data_root``.

    ``ks`` and ``temperature`` are checked first (:func:`check_knn_args`),
    ``k`` against the train split before any feature is extracted
    (:func:`knn_evaluate`)."""
    check_knn_args(ks, temperature)
    backbone, preprocessor = build_backbone_and_preprocessor(
        cfg, checkpoint, init_seed)
    loaders = [knn_dataloader(data_root, split, img_size, batch_size,
                              num_workers) for split in ('train', 'val')]
    return knn_evaluate(backbone, preprocessor, *loaders, ks=ks,
                        temperature=temperature)
