"""SCDA saliency and saliency-guided masked views of images (Fig. 3 of
"Masking Improves Contrastive Self-Supervised Learning for ConvNets, and
Saliency Tells You Where"), saved as one PNG per image.

Example::

    python tools/visualization/vis_saliency_masks.py demo/pig.jpg \
        --checkpoint checkpoints/resnet50_8xb32_in1k.pth --out-dir vis/

Each PNG shows the image, the SCDA activation map and the saliency grid over
the image (foreground cells tinted, the cell grid drawn), then one row per
fill strategy (BlurFill, MeanFill, HighPassFill): its input and ``--samples``
positive and hard-negative views (high-pass views rescaled for visibility).
The image is resized (shorter side) and centre-cropped to ``--img-size`` and
normalised with mmpretrain's ImageNet mean and std.

``--checkpoint`` is an ImageNet-supervised ResNet-50 (an mmpretrain
classifier such as resnet50_8xb32_in1k, or a torchvision resnet50 file),
checked and verified as ``SCDASaliency`` does in training. Without it the
saliency network is randomly initialised (nothing is downloaded) and the
saliency is meaningless. ``--config`` takes the saliency and fill settings
of a saliency-masking pretraining config (``model.saliency``,
``model.fill``).
"""
import argparse
import os
import os.path as osp
import sys

import torch

from maskssl.utils import register_all_modules
from maskssl.visualization import (build_fills, build_saliency,
                                   plot_saliency_masks, read_image,
                                   saliency_mask_example)
from maskssl.visualization.saliency_masks import MIN_IMG_SIZE

RANDOM_WARNING = (
    'WARNING: no --checkpoint: the saliency network is a randomly '
    'initialised ResNet-{depth}, so the SCDA saliency (the foreground '
    'cells) is meaningless; pass an ImageNet-supervised ResNet-{depth} '
    'checkpoint (mmpretrain resnet{depth}_8xb32_in1k or torchvision '
    'resnet{depth}) with --checkpoint')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('images', nargs='+', metavar='IMAGE',
                        help='image files')
    parser.add_argument('--checkpoint',
                        help='ImageNet-supervised ResNet-50 checkpoint of '
                        'the saliency network (mmpretrain or torchvision); '
                        'without it a random network is used')
    parser.add_argument('--config',
                        help='saliency-masking pretraining config to take '
                        'model.saliency and model.fill settings from')
    parser.add_argument('--out-dir', default='vis_saliency_masks')
    parser.add_argument('--img-size', type=int, default=224,
                        help='images are resized and centre-cropped to this '
                        f'square size (at least {MIN_IMG_SIZE}, one cell)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the masks (and of a random network)')
    parser.add_argument('--samples', type=int, default=3,
                        help='positive and hard-negative views per strategy')
    # tests: a small random network
    parser.add_argument('--depth', type=int, default=50,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.img_size < MIN_IMG_SIZE:
        parser.error(f'argument --img-size: {args.img_size} is smaller than '
                     f'one saliency cell ({MIN_IMG_SIZE} px, the ResNet '
                     f'stride); expected --img-size >= {MIN_IMG_SIZE}')
    if args.samples < 1:
        parser.error(f'argument --samples: {args.samples}; expected >= 1')
    return parser, args


def model_settings(path):
    """``model.saliency`` and ``model.fill`` of a config (None if absent)."""
    from maskssl.launch import load_config
    model = load_config(path).get('model') or {}
    saliency, fill = model.get('saliency'), model.get('fill')
    if fill is None:
        print(f'note: {path} has no model.fill; using the default fills')
    if not saliency or saliency.get('source') != 'pretrained':
        print(f'note: {path}: model.saliency is '
              f'{saliency.get("source") if saliency else None!r}-source; '
              'the figure uses a separate ResNet saliency network')
    return saliency, fill


def out_paths(images, out_dir):
    """``<out-dir>/<stem>_saliency_masks.png`` per image, ``_2``, ``_3``
    ... for repeated stems."""
    paths, seen = [], {}
    for path in images:
        stem = osp.splitext(osp.basename(path))[0]
        seen[stem] = seen.get(stem, 0) + 1
        suffix = f'_{seen[stem]}' if seen[stem] > 1 else ''
        paths.append(osp.join(out_dir, f'{stem}{suffix}_saliency_masks.png'))
    return paths


def main(argv=None):
    parser, args = parse_args(argv)
    images = []
    for path in args.images:  # every image before any network work
        try:
            images.append(read_image(path, args.img_size))
        except (FileNotFoundError, ValueError) as err:
            parser.error(str(err))
    register_all_modules()
    saliency_cfg = fill_cfg = None
    if args.config:
        saliency_cfg, fill_cfg = model_settings(args.config)
    torch.manual_seed(args.seed)  # a random network is reproducible
    try:
        saliency, loaded = build_saliency(args.checkpoint, args.depth,
                                          saliency_cfg)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        if not args.checkpoint:
            raise
        parser.error(f'argument --checkpoint: {err}')
    title_note = ''
    if not loaded:
        print(RANDOM_WARNING.format(depth=args.depth), file=sys.stderr)
        title_note = ' [random saliency network: saliency meaningless]'
    fills = build_fills(fill_cfg)
    os.makedirs(args.out_dir, exist_ok=True)
    for path, image, out in zip(args.images, images,
                                out_paths(args.images, args.out_dir)):
        generator = torch.Generator().manual_seed(args.seed)
        example = saliency_mask_example(image, saliency, fills, args.samples,
                                        generator)
        fig = plot_saliency_masks(
            example, f'{osp.basename(path)}: SCDA saliency and masked views '
            f'(seed {args.seed}){title_note}')
        fig.savefig(out, dpi=100)
        fg = example.foreground
        print(f'{path} -> {out} ({int(fg.sum())}/{fg.numel()} foreground '
              'cells)')


if __name__ == '__main__':
    main()
