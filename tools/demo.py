"""`make demo`: pretrain a ResNet-18 on the toy dataset through
``tools/train.py``, then compare the kNN top-1 of the pretrained backbone with
the same backbone at random initialisation."""
import argparse
import os.path as osp
import subprocess
import sys

from maskssl.evaluation import knn_evaluate_config
from maskssl.launch import load_config
from maskssl.utils import register_all_modules

DEMO_CONFIG = 'configs/maskdeep/maskdeep_resnet18_1xb64-coslr-10e_toy.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEMO_CONFIG)
    parser.add_argument('--data-root', default='data/toy')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--img-size', type=int, default=64)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    subprocess.run([
        sys.executable, osp.join(root, 'tools', 'train.py'), args.config,
        '--work-dir', args.work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={args.data_root}'
    ], check=True)
    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()

    register_all_modules()
    cfg = load_config(args.config)
    rows = []
    for name, ckpt in (('random init', None), ('pretrained', checkpoint)):
        res = knn_evaluate_config(cfg, ckpt, args.data_root, args.img_size,
                                  ks=(20, ))
        rows.append((name, res['k20_top1'], res['k20_top5']))
    print(f'\nkNN (k=20, T=0.07) on {args.data_root} val, '
          f'{osp.basename(args.config)}')
    print(f'{"backbone":<14} {"top-1":>7} {"top-5":>7}')
    for name, top1, top5 in rows:
        print(f'{name:<14} {top1:7.2f} {top5:7.2f}')
    print(f'checkpoint: {checkpoint}')
    if rows[1][1] <= rows[0][1]:
        sys.exit('pretrained backbone did not beat random init on kNN top-1')


if __name__ == '__main__':
    main()
