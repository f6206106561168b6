import random
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dist import (broadcast_object_list, collect_results,
                           get_dist_info)
from mmengine.hooks import Hook, LoggerHook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ...evaluation.knn import extract_features, knn_metrics
from ...evaluation.knn_setup import (build_cls_data_preprocessor,
                                      knn_dataloader)

SPLITS = ('train', 'val')


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Weighted kNN accuracy of the online backbone during pretraining.

    Every ``interval`` epochs, after the last epoch and, with
    ``before_train``, once before the first epoch (logged as epoch 0, the
    random-init point of the curve), the pooled last-stage features
    (:func:`maskssl.evaluation.pooled_features`) of ``model.backbone`` are
    extracted for the labelled ``train`` split (the memory bank) and the
    ``val`` split of ``data_root``, and the top-1/top-5 accuracy of weighted
    kNN (:func:`maskssl.evaluation.knn_metrics`, the same path as
    ``tools/benchmarks/knn_eval.py``) is recorded:

    - in the message hub as runtime scalars ``{prefix}/k{k}_top1`` and
      ``{prefix}/k{k}_top5`` (e.g. ``knn/k20_top1``; not under ``train/``,
      which LogProcessor would average over its window);
    - in the visualiser (``step`` = epoch, with ``epoch`` and ``iter``
      fields), into the LoggerHook's ``vis_data/<timestamp>.json`` next to
      the training losses;
    - in the log: ``Epoch(knn) [3]  knn/k20_top1: 41.25  knn/k20_top5: ...``.

    Features are taken under ``torch.no_grad()`` in eval mode (BN running
    statistics stay untouched), with the images normalised by a
    ``ClsDataPreprocessor`` built from the config's
    ``model.data_preprocessor`` (mean, std, colour order); afterwards every
    module of the backbone gets its previous ``training`` flag back, and
    python's, numpy's and torch's random states are restored, so that the
    hook does not change training. The images are resized on the short edge
    and centre-cropped to ``img_size`` (:func:`knn_dataloader`).

    Distributed: each rank extracts its ``DefaultSampler(shuffle=False)``
    shard; rank 0 gathers the shards in dataset order
    (``collect_results``), computes the metrics and broadcasts them, so every
    rank records the same values; only rank 0 writes the log and json.
    Gathering goes through ``all_gather_object``, so every rank briefly
    holds all features: use a monitoring-sized split (e.g. an ImageNet
    subset), not the full ImageNet train set.

    Args:
        data_root (str): ImageNet-style root with ``train/``, ``val/`` and
            ``meta/{train,val}.txt`` (checked when the loaders are first
            built).
        img_size (int): Crop size of the kNN images. Defaults to 224.
        interval (int): Evaluate every ``interval`` epochs. Defaults to 1.
        before_train (bool): Also evaluate before the first epoch.
            Defaults to True.
        k (int | Sequence[int]): Neighbours; one top-1/top-5 pair per value.
            Defaults to 20.
        temperature (float): ``T`` in the vote weight ``exp(sim / T)``.
            Defaults to 0.07.
        batch_size (int): Images per batch and rank. Defaults to 128.
        num_workers (int): Dataloader workers per rank. Defaults to 2.
        prefix (str): Prefix of the metric names. Defaults to ``'knn'``.
    """

    def __init__(self,
                 data_root: str,
                 img_size: int = 224,
                 interval: int = 1,
                 before_train: bool = True,
                 k: Union[int, Sequence[int]] = 20,
                 temperature: float = 0.07,
                 batch_size: int = 128,
                 num_workers: int = 2,
                 prefix: str = 'knn') -> None:
        ks = [k] if isinstance(k, int) else list(k)
        if not ks or not all(isinstance(v, int) and v >= 1 for v in ks):
            raise ValueError(f'KNNMonitorHook: k must be an int >= 1 or a '
                             f'non-empty list of them, got k={k!r}')
        if not temperature > 0:
            raise ValueError('KNNMonitorHook: temperature must be > 0, got '
                             f'temperature={temperature!r}')
        if not (isinstance(interval, int) and interval >= 1):
            raise ValueError('KNNMonitorHook: interval must be an int >= 1, '
                             f'got interval={interval!r}')
        for name, value, low in (('img_size', img_size, 1),
                                 ('batch_size', batch_size, 1),
                                 ('num_workers', num_workers, 0)):
            if not (isinstance(value, int) and value >= low):
                raise ValueError(f'KNNMonitorHook: {name} must be an int >= '
                                 f'{low}, got {name}={value!r}')
        if not prefix:
            raise ValueError('KNNMonitorHook: prefix must not be empty')
        self.data_root = data_root
        self.img_size = img_size
        self.interval = interval
        self.eval_before_train = before_train
        self.ks = ks
        self.temperature = temperature
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.prefix = prefix
        self._loaders: Optional[Tuple[DataLoader, DataLoader]] = None
        self._preprocessor: Optional[nn.Module] = None

    def before_train(self, runner) -> None:
        if self.eval_before_train:
            self.evaluate(runner, runner.epoch)

    def after_train_epoch(self, runner) -> None:
        if (self.every_n_epochs(runner, self.interval)
                or self.is_last_train_epoch(runner)):
            self.evaluate(runner, runner.epoch + 1)

    def evaluate(self, runner, epoch: int) -> Dict[str, float]:
        """Measure, record and return the metrics
        (``{'knn/k20_top1': ..., 'knn/k20_top5': ...}``) of the backbone at
        the end of ``epoch`` (0: before training)."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        backbone = model.backbone
        rank, _ = get_dist_info()
        param = next(backbone.parameters(), None)
        device = param.device if param is not None else torch.device('cpu')
        if self._preprocessor is None:
            self._preprocessor = build_cls_data_preprocessor(
                runner.cfg.model.get('data_preprocessor'))
        self._preprocessor.to(device)

        modes = [(module, module.training) for module in backbone.modules()]
        rng = (random.getstate(), np.random.get_state())
        try:
            # building the samplers (a seed) and iterating the loaders (the
            # workers' base seed) draw from the global generators; CUDA's
            # generator is not used
            with torch.random.fork_rng(devices=[]):
                if self._loaders is None:
                    self._loaders = tuple(  # type: ignore
                        knn_dataloader(self.data_root, split, self.img_size,
                                       self.batch_size, self.num_workers)
                        for split in SPLITS)
                splits = [self._extract(backbone, loader)
                          for loader in self._loaders]  # type: ignore
        finally:
            for module, training in modes:
                module.training = training
            random.setstate(rng[0])
            np.random.set_state(rng[1])

        # rank 0 computes; the result (or its error, so that no rank waits
        # for a broadcast that never comes) goes to every rank
        payload: List[Union[Dict[str, float], str, None]] = [None]
        if rank == 0:
            try:
                for (_, labels), loader, split in zip(splits, self._loaders,
                                                      SPLITS):
                    expected = loader.dataset.get_gt_labels()  # type: ignore
                    if not np.array_equal(labels.numpy(), expected):
                        raise RuntimeError(
                            f'the gathered {split} labels do not follow the '
                            'dataset order; the kNN loaders need a '
                            'DefaultSampler with shuffle=False')
                (train_feats, train_labels), (val_feats, val_labels) = splits
                payload[0] = {
                    f'{self.prefix}/{name}': value
                    for name, value in knn_metrics(
                        train_feats, train_labels, val_feats, val_labels,
                        self.ks, self.temperature).items()
                }
            except Exception as error:
                payload[0] = f'{type(error).__name__}: {error}'
        broadcast_object_list(payload, src=0)
        if not isinstance(payload[0], dict):
            raise RuntimeError(f'KNNMonitorHook at epoch {epoch}: '
                               f'{payload[0]}')
        metrics: Dict[str, float] = payload[0]
        self._record(runner, epoch, metrics)
        return metrics

    def _extract(self, backbone: nn.Module,
                 loader: DataLoader) -> Optional[Tuple[Tensor, Tensor]]:
        """Features ``(N, C)`` and labels ``(N,)`` of the loader's whole
        dataset in dataset order on rank 0 (``None`` on other ranks), each
        rank extracting its sampler's shard."""
        feats, labels = extract_features(backbone, self._preprocessor,
                                         loader)
        # One item per sample: `collect_results` interleaves the ranks'
        # items as DefaultSampler dealt them out and drops its padding. Rows
        # go as numpy arrays (a pickled view of a torch tensor would carry
        # its whole storage). 'gpu' mode is `all_gather_object`, which works
        # on gloo as well as NCCL and, unlike 'cpu' mode, needs no tmpdir
        # shared by the ranks (created under the working directory).
        size = len(loader.dataset)  # type: ignore
        items = list(zip(feats.float().numpy(), labels.tolist()))
        gathered = collect_results(items, size, device='gpu')
        if gathered is None:
            return None
        return (torch.from_numpy(np.stack([f for f, _ in gathered])),
                torch.tensor([label for _, label in gathered]).long())

    def _record(self, runner, epoch: int, metrics: Dict[str, float]) -> None:
        """Message hub (every rank), visualiser and log (rank 0)."""
        for key, value in metrics.items():
            runner.message_hub.update_scalar(key, value)
        json_log_path = next((hook.json_log_path for hook in runner.hooks
                              if isinstance(hook, LoggerHook)), None)
        runner.visualizer.add_scalars(
            dict(metrics, epoch=epoch, iter=runner.iter), step=epoch,
            file_path=json_log_path)
        runner.logger.info(f'Epoch({self.prefix}) [{epoch}]  ' + '  '.join(
            f'{key}: {value:.2f}' for key, value in metrics.items()))
