"""Shared steps of ``tools/train.py`` and ``tools/test.py``."""
import argparse
import os
import os.path as osp
from typing import Any, Dict, Optional, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from .config import check_dataset_paths, find_unknown_cfg_keys
from .dist import adapt_cfg_to_cpu, init_cpu_dist


def add_launch_args(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options``, ``--launcher`` and ``--local-rank``, as in the
    OpenMMLab tools."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, as key=value pairs '
        '(e.g. model.backbone.depth=18); a key that matches nothing in the '
        'config is reported')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launch_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass
    ``--local-rank`` instead of setting it."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(path: str, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """``Config.fromfile`` with a clear error for a missing file, and a
    warning for each ``--cfg-options`` key that matches nothing."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'config file "{path}" does not exist; expected a python config '
            'such as configs/byol/byol_resnet18_1xb64-coslr-20e_toy.py')
    cfg = Config.fromfile(path)
    if cfg_options:
        for message in find_unknown_cfg_keys(cfg, cfg_options):
            print_log(message, logger='current', level=30)
        cfg.merge_from_dict(cfg_options)
    return cfg


def prepare_launch(cfg: Config, launcher: str,
                   loaders: Tuple[str, ...] = ('train_dataloader',
                                               'val_dataloader')) -> None:
    """Set the launcher, check dataset paths and, without a GPU, make the
    config CPU-runnable and create the gloo process group before the Runner
    is built (mmengine's own init calls ``torch.cuda.set_device``).

    Only the dataset paths of ``loaders`` are checked: training never builds
    the test loader, testing only the test loader."""
    cfg.launcher = launcher
    check_dataset_paths(cfg, loaders)
    if not torch.cuda.is_available():
        distributed = launcher != 'none'
        adapt_cfg_to_cpu(cfg, distributed)
        if distributed:
            init_cpu_dist(launcher)
