"""Shared steps of ``tools/train.py`` and ``tools/test.py``."""
import argparse
import copy
import os
import os.path as osp
from typing import Any, Dict, Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

from .config_checks import (check_dataset_paths, check_dataset_sizes,
                            describe_syntax_error, find_config_syntax_error,
                            find_unknown_cfg_keys)
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
    """``Config.fromfile`` with a clear error for a missing file and for a
    syntax error (naming the file, the config or one of its ``_base_``
    files, with the line, where mmengine says ``File "<unknown>"``), and a
    warning for each ``--cfg-options`` key that matches nothing."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'config file "{path}" does not exist; expected a python config '
            'such as configs/byol/byol_resnet18_1xb64-coslr-20e_toy.py')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError:
        error = find_config_syntax_error(path)
        if error is None:
            raise
        raise SyntaxError(
            describe_syntax_error(error, path),
            (error.filename, error.lineno, error.offset, error.text)) from None
    if cfg_options:
        for message in find_unknown_cfg_keys(cfg, cfg_options):
            print_log(message, logger='current', level=30)
        cfg.merge_from_dict(cfg_options)
    return cfg


def fill_dataloader_defaults(cfg: Config, pin_memory: bool = True,
                             persistent_workers: bool = True) -> None:
    """Give every dataloader mmpretrain's tool defaults: pinned memory,
    persistent workers (off without workers, where torch refuses them) and,
    in mmpretrain's scope, ``default_collate`` (mmdet and mmseg keep
    mmengine's ``pseudo_collate``). A loader's own settings win, except that
    ``pin_memory=False`` / ``persistent_workers=False`` switch them off."""
    defaults = ConfigDict(pin_memory=True, persistent_workers=True)
    if cfg.get('default_scope', 'mmpretrain') == 'mmpretrain':
        defaults.collate_fn = dict(type='default_collate')
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field, None) is None:
            continue
        loader = copy.deepcopy(defaults)
        loader.update(cfg[field])
        if not pin_memory:
            loader.pin_memory = False
        if not persistent_workers or loader.get('num_workers', 0) == 0:
            loader.persistent_workers = False
        cfg[field] = loader


def prepare_launch(cfg: Config, launcher: str,
                   loaders: Tuple[str, ...] = ('train_dataloader',
                                               'val_dataloader')) -> None:
    """Set the launcher, check dataset paths and sizes and, without a GPU,
    make the config CPU-runnable and create the gloo process group before the
    Runner is built (mmengine's own init calls ``torch.cuda.set_device``).

    Only the datasets of ``loaders`` are checked: training never builds the
    test loader, testing only the test loader."""
    cfg.launcher = launcher
    check_dataset_paths(cfg, loaders)
    check_dataset_sizes(cfg, loaders)
    if not torch.cuda.is_available():
        distributed = launcher != 'none'
        adapt_cfg_to_cpu(cfg, distributed)
        if distributed:
            init_cpu_dist(launcher)
