"""`make demo`: pretrain a ResNet-18 on the toy dataset through
``tools/train.py`` (``KNNMonitorHook`` logs kNN top-1 every epoch), then
compare the kNN top-1 of the pretrained backbone with the same backbone at
random initialisation from three seeds, print the table and write the loss
and kNN curves to ``WORK_DIR/curves.png``."""
import argparse
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import time
from glob import glob
from statistics import mean
from typing import Dict, List, Tuple

from maskssl.evaluation import knn_evaluate_config
from maskssl.launch import load_config
from maskssl.utils import register_all_modules

DEMO_CONFIG = 'configs/maskdeep/maskdeep_resnet18-w16_1xb32-coslr-20e_toy.py'
RANDOM_SEEDS = (0, 1, 2)
# Learning is shown when the pretrained backbone beats the mean of the
# random-init seeds by MARGIN_MEAN points of kNN top-1 and the best by
# MARGIN_BEST.
MARGIN_MEAN, MARGIN_BEST = 5.0, 3.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEMO_CONFIG)
    parser.add_argument('--data-root', default='data/toy')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--img-size', type=int,
                        help="kNN crop size (default: the config's "
                        'knn.img_size, or 64)')
    return parser.parse_args()


def demo_config(cfg, data_root: str, img_size: int):
    """``cfg`` training on ``data_root`` with a ``KNNMonitorHook`` that
    measures kNN top-1/top-5 on its val split before training and after every
    epoch."""
    cfg = copy.deepcopy(cfg)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.custom_hooks = [
        hook for hook in cfg.get('custom_hooks', [])
        if hook['type'].split('.')[-1] != 'KNNMonitorHook'
    ] + [dict(type='KNNMonitorHook', data_root=data_root, img_size=img_size,
              interval=1, before_train=True, k=20)]
    return cfg


def read_json_log(work_dir: str) -> List[dict]:
    """The records of the newest ``vis_data/<timestamp>.json`` of a run."""
    logs = sorted(glob(osp.join(work_dir, '*', 'vis_data', '*.json')))
    logs = [p for p in logs if osp.basename(p) != 'scalars.json']
    if not logs:
        raise FileNotFoundError(
            f'no training log {work_dir}/<timestamp>/vis_data/<timestamp>.json')
    with open(logs[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def epoch_curves(records: List[dict], key: str
                 ) -> Tuple[Dict[int, float], Dict[int, float]]:
    """Mean training loss per epoch and the kNN ``key`` per epoch (epoch 0:
    before training) from the JSON log records."""
    losses: Dict[int, List[float]] = {}
    knn = {}
    for rec in records:
        if key in rec:
            knn[int(rec['epoch'])] = rec[key]
        elif 'loss' in rec and 'epoch' in rec:
            losses.setdefault(int(rec['epoch']), []).append(rec['loss'])
    return {e: mean(v) for e, v in sorted(losses.items())}, knn


def knn_at(records: List[dict], epoch: int,
           prefix: str = 'knn/') -> Dict[str, float]:
    """The ``KNNMonitorHook`` metrics logged at ``epoch``, without
    ``prefix`` (``{'k20_top1': ..., 'k20_top5': ...}``)."""
    for rec in records:
        if rec.get('epoch') == epoch and any(k.startswith(prefix)
                                             for k in rec):
            return {k[len(prefix):]: v for k, v in rec.items()
                    if k.startswith(prefix)}
    raise KeyError(f'the training log has no {prefix}* record of epoch '
                   f'{epoch}')


def plot_curves(path: str, losses: Dict[int, float], knn: Dict[int, float],
                random_top1: List[float], title: str) -> None:
    """Loss per epoch and kNN top-1 per epoch against the random-init
    seeds (their mean as a line, their range as a band)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_knn) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(list(losses), list(losses.values()), 'o-')
    ax_loss.set(xlabel='epoch', ylabel='training loss (mean of logged)',
                title='loss')
    epochs = sorted(knn)
    ax_knn.plot(epochs, [knn[e] for e in epochs], 'o-', label='pretrained')
    ax_knn.axhline(mean(random_top1), color='grey', linestyle='--',
                   label=f'random init (mean of {len(random_top1)} seeds)')
    ax_knn.axhspan(min(random_top1), max(random_top1), color='grey',
                   alpha=0.2, label='random init (range)')
    ax_knn.set(xlabel='epoch (0: before training)',
               ylabel='kNN top-1 (%)', title='kNN on the val split')
    ax_knn.legend(loc='lower right')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    register_all_modules()
    cfg = load_config(args.config)
    img_size = args.img_size or (cfg.get('knn') or {}).get('img_size', 64)
    os.makedirs(args.work_dir, exist_ok=True)
    name = osp.splitext(osp.basename(args.config))[0]
    train_config = osp.join(args.work_dir, f'{name}_demo.py')
    demo_config(cfg, args.data_root, img_size).dump(train_config)
    start = time.time()
    subprocess.run([
        sys.executable, osp.join(root, 'tools', 'train.py'), train_config,
        '--work-dir', args.work_dir
    ], check=True)
    train_time = time.time() - start
    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()

    rows = []
    for seed in RANDOM_SEEDS:
        res = knn_evaluate_config(cfg, None, args.data_root, img_size,
                                  ks=(20, ), init_seed=seed)
        rows.append((f'random init, seed {seed}', res))
    random_top1 = [res['k20_top1'] for _, res in rows]
    # the hook measured the final weights (those of the checkpoint) after
    # the last epoch with the same kNN
    records = read_json_log(args.work_dir)
    epochs = cfg.train_cfg.max_epochs
    pretrained = knn_at(records, epochs)
    rows.append((f'pretrained, {epochs} epochs', pretrained))

    print(f'\nkNN (k=20, T=0.07) on {args.data_root} val, {name} '
          f'(training took {train_time / 60:.1f} min)')
    print(f'{"backbone":<26} {"top-1":>7} {"top-5":>7}')
    for label, res in rows:
        print(f'{label:<26} {res["k20_top1"]:7.2f} {res["k20_top5"]:7.2f}')
    over_mean = pretrained['k20_top1'] - mean(random_top1)
    over_best = pretrained['k20_top1'] - max(random_top1)
    print(f'top-1 margin: {over_mean:+.2f} over the random-init mean '
          f'(learning shown at >= {MARGIN_MEAN:+.0f}), {over_best:+.2f} over '
          f'the best seed (>= {MARGIN_BEST:+.0f})')

    losses, knn = epoch_curves(records, 'knn/k20_top1')
    curves = osp.join(args.work_dir, 'curves.png')
    plot_curves(curves, losses, knn, random_top1, name)
    print(f'checkpoint: {checkpoint}\ncurves: {curves}')
    if over_mean < MARGIN_MEAN or over_best < MARGIN_BEST:
        sys.exit('the pretrained backbone did not beat random init by the '
                 'margins above')


if __name__ == '__main__':
    main()
