"""The teacher's class attention, a random mask and MST's attention-guided
mask of images (Fig. 2 of "MST: Masked Self-Supervised Transformer for
Visual Representation"), saved as one PNG per image.

Example::

    python tools/visualization/vis_mst_masks.py demo/pig.jpg \
        --checkpoint work_dirs/mst/epoch_100.pth --out-dir vis/

Each PNG has four panels: (a) the image, resized (shorter side) and
centre-cropped to the config's global view size (``--img-size``); (b) the
teacher's class attention of the last block (Eq. 4) over the patch grid, a
heat map over the image; (c) a random mask (``RandomTokenMasker``, Eq. 3)
and (d) the attention-guided mask (the config's ``AttentionGuidedMasker``,
Eq. 5, its candidate tokens outlined), both with the same ``p`` and masked
patches greyed out.

``--checkpoint`` is an MST training checkpoint: the teacher backbone is read
from its ``teacher.module.0.*`` tensors. Without it the teacher is randomly
initialised (nothing is downloaded) and its attention is meaningless.
``--config`` is the MST config the checkpoint was trained with (backbone,
masker, global view size and normalisation).
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmpretrain.registry import MODELS

from maskssl.launch import check_model_type, load_config
from maskssl.models import MST
from maskssl.models.maskers import AttentionGuidedMasker
from maskssl.utils import register_all_modules
from maskssl.visualization import (build_maskers, build_teacher,
                                   mst_mask_example, plot_mst_masks,
                                   read_image)
from maskssl.visualization.mst_masks import (DEFAULT_MASKER,
                                             global_view_size, normalization)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(
    REPO, 'configs/mst/mst_deit-small-p16_8xb128-amp-coslr-100e_in1k.py')
DPI = 100
RANDOM_WARNING = (
    'WARNING: no --checkpoint: the teacher is a randomly initialised '
    '{arch}, so its class attention (and the attention-guided mask it '
    'guides) is meaningless; pass an MST training checkpoint of this config '
    'with --checkpoint')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('images', nargs='+', metavar='IMAGE',
                        help='image files')
    parser.add_argument('--checkpoint',
                        help='MST training checkpoint (its teacher backbone, '
                        '"teacher.module.0.*", is used); without it a '
                        'random teacher is used')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='the MST config of the checkpoint (default: '
                        f'{osp.relpath(DEFAULT_CONFIG, REPO)})')
    parser.add_argument('--out-dir', default='vis_mst_masks')
    parser.add_argument('--img-size', type=int,
                        help="images are resized and centre-cropped to this "
                        "square size, a multiple of the patch size (default: "
                        "the config's global view size)")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the masks (and of a random teacher)')
    return parser, parser.parse_args(argv)


def masker_settings(model_cfg, path):
    """``model.masker`` if it is an ``AttentionGuidedMasker`` (MST's
    default when absent), else MST's default masker, with a note."""
    masker = model_cfg.get('masker', DEFAULT_MASKER)
    kind = masker.get('type') if masker else None
    cls = MODELS.get(kind) if isinstance(kind, str) else kind
    if cls is not AttentionGuidedMasker:
        print(f'note: {path}: model.masker is {kind!r}, not an '
              f'AttentionGuidedMasker; the figure uses MST\'s '
              f'AttentionGuidedMasker(num={DEFAULT_MASKER["num"]}, '
              f'p={DEFAULT_MASKER["p"]})')
        return DEFAULT_MASKER
    return masker


def out_paths(images, out_dir):
    """``<out-dir>/<stem>_mst_masks.png`` per image, ``_2``, ``_3`` ... for
    repeated stems."""
    paths, seen = [], {}
    for path in images:
        stem = osp.splitext(osp.basename(path))[0]
        seen[stem] = seen.get(stem, 0) + 1
        suffix = f'_{seen[stem]}' if seen[stem] > 1 else ''
        paths.append(osp.join(out_dir, f'{stem}{suffix}_mst_masks.png'))
    return paths


def main(argv=None):
    parser, args = parse_args(argv)
    register_all_modules()
    try:
        cfg = load_config(args.config)
        check_model_type(cfg, args.config, MST,
                         'an MST config such as configs/mst/'
                         'mst_deit-small-p16_8xb128-amp-coslr-100e_in1k.py')
    except (FileNotFoundError, ValueError) as err:
        parser.error(f'argument --config: {err}')
    torch.manual_seed(args.seed)  # a random teacher is reproducible
    try:
        backbone, loaded = build_teacher(cfg.model.backbone, args.checkpoint)
    except (FileNotFoundError, ValueError) as err:
        if not args.checkpoint:
            raise
        parser.error(f'argument --checkpoint: {err}')
    patch = backbone.patch_embed.projection.stride[0]
    size = global_view_size(cfg) if args.img_size is None else args.img_size
    if size < patch or size % patch:
        parser.error(f'argument --img-size: {size} is not a multiple of the '
                     f'patch size {patch} of {args.config}')
    images = []
    for path in args.images:  # every image before any output
        try:
            images.append(read_image(path, size))
        except (FileNotFoundError, ValueError) as err:
            parser.error(str(err))
    guided, random = build_maskers(masker_settings(cfg.model, args.config))
    mean, std = normalization(cfg)
    title_note = ''
    if not loaded:
        print(RANDOM_WARNING.format(arch=type(backbone).__name__),
              file=sys.stderr)
        title_note = ' [random teacher: attention meaningless]'
    os.makedirs(args.out_dir, exist_ok=True)
    for path, image, out in zip(args.images, images,
                                out_paths(args.images, args.out_dir)):
        generator = torch.Generator().manual_seed(args.seed)
        example = mst_mask_example(image, backbone, guided, random,
                                   generator, mean, std)
        fig = plot_mst_masks(
            example, f'{osp.basename(path)}: MST attention-guided masking '
            f'(seed {args.seed}){title_note}')
        fig.savefig(out, dpi=DPI)
        n = example.guided_mask.numel()
        print(f'{path} -> {out} (random mask {int(example.random_mask.sum())}'
              f'/{n}, attention-guided {int(example.guided_mask.sum())}/{n} '
              'tokens)')


if __name__ == '__main__':
    main()
