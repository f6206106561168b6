"""Weighted kNN (cosine, T=0.07) of a pretrained backbone on an
ImageNet-style dataset.

Example::

    python tools/benchmarks/knn_eval.py CONFIG work_dirs/x/epoch_10.pth
    python tools/benchmarks/knn_eval.py CONFIG --random-init   # baseline
"""
import argparse
import json
import os.path as osp
from typing import Any, Dict, Optional

from mmengine.config import DictAction

from maskssl.evaluation import knn_evaluate_config
from maskssl.evaluation.knn import check_knn_args
from maskssl.launch import count_annotation_lines, load_config
from maskssl.utils import register_all_modules
from maskssl.utils.arg_checks import check_int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Weighted kNN evaluation')
    parser.add_argument('config', help='pretraining config (its backbone)')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint (raw training or extracted backbone)')
    parser.add_argument('--random-init', action='store_true',
                        help='evaluate the randomly initialised backbone')
    parser.add_argument('--data-root',
                        help='ImageNet-style root (default: the data_root of '
                        'the config train_dataloader.dataset)')
    parser.add_argument('--img-size', type=int,
                        help='default: the config\'s knn.img_size, or 224')
    parser.add_argument('--k', type=int, nargs='+',
                        help='default: the config\'s knn.k, or 10 20 100 200')
    parser.add_argument('--temperature', type=float,
                        help='default: the config\'s knn.temperature, or 0.07')
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--out', help='write the results to this json file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    if (args.checkpoint is None) == (not args.random_init):
        parser.error('give a CHECKPOINT or --random-init (not both)')
    return args


def knn_settings(args: argparse.Namespace,
                 cfg_knn: Optional[Dict[str, Any]],
                 data_root: str) -> Dict[str, Any]:
    """``k``, ``temperature`` and ``img_size``: each option given on the
    command line (0 included), else the config's ``knn`` dict, else the
    defaults; checked before any feature is extracted, ``k`` against the
    train split's annotation file where it exists.

    Raises:
        ValueError: naming the option (``--k``) or config key (``knn.k``)
            and the value, and for a ``k`` larger than the train split its
            size.
    """
    settings = dict(k=[10, 20, 100, 200], temperature=0.07, img_size=224)
    settings.update(cfg_knn or {})
    names = {key: f'knn.{key}' for key in settings}
    for key, option in (('k', 'k'), ('temperature', 'temperature'),
                        ('img_size', 'img-size')):
        value = getattr(args, key)
        if value is not None:
            settings[key], names[key] = value, f'--{option}'
    check_int(settings['img_size'], names['img_size'], owner='kNN')
    train_ann = osp.join(data_root, 'meta', 'train.txt')
    # a missing or empty split is reported by knn_dataloader, naming it
    bank_size = (count_annotation_lines(train_ann)
                 if osp.isfile(train_ann) else 0) or None
    check_knn_args(settings['k'], settings['temperature'], bank_size,
                   names['k'], names['temperature'])
    return settings


def main() -> None:
    args = parse_args()
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    data_root = args.data_root or cfg.train_dataloader.dataset.data_root
    # a benchmark config's `knn = dict(k=..., temperature=..., img_size=...)`
    knn = knn_settings(args, cfg.get('knn'), data_root)
    results = knn_evaluate_config(
        cfg, args.checkpoint, data_root, knn['img_size'], knn['k'],
        knn['temperature'], args.batch_size, args.num_workers)
    for key, value in results.items():
        print(f'{key}: {value:.2f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
