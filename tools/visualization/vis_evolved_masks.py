"""The tree of an image's patches cut at several depths and the evolved
masks at several points of training (Figs. 6 and 7 of "Evolved
Hierarchical Masking for Self-Supervised Learning"), one PNG per image.

Example::

    python tools/visualization/vis_evolved_masks.py demo/bird.jpg \
        --config configs/ehm/<config>.py \
        --checkpoint work_dirs/<config>/epoch_100.pth --out-dir vis/

Each PNG has two rows. (a) The tree built from the checkpoint's own
attention (Sec. IV-A: the patch-to-patch attention of the first
``--attention-layers`` blocks, averaged, merged bottom-up by average
linkage) cut at each ``--depths`` fraction of its height, each part a
colour over the image (Fig. 6; 0 is the leaves, every patch its own part,
1 the root, one part). (b) The masks the config's
``EvolvedHierarchicalMasker`` makes at each ``--progress`` value (the
training progress ``iter / max_iters``, moving its depth from ``start`` to
``end``), masked patches greyed out (Fig. 7); all drawn with the same
``--seed`` so they differ only by the depth.

The image is resized (shorter side) and centre-cropped to the backbone's
``img_size`` and normalised with the config's data preprocessor.
``--checkpoint`` is an EHM training checkpoint of ``--config`` (an
``EHMMAE`` config), loaded strictly.
"""
import argparse
import os
import os.path as osp

from maskssl.launch import check_model_type, load_config
from maskssl.models import EHMMAE
from maskssl.utils import register_all_modules
from maskssl.visualization import (build_ehm_model, evolved_mask_example,
                                   plot_evolved_masks, read_image)
from maskssl.visualization.evolved_masks import (DEFAULT_DEPTHS,
                                                 DEFAULT_MASKER,
                                                 DEFAULT_PROGRESS,
                                                 check_fractions, ehm_masker,
                                                 preprocessing)

DPI = 100


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('images', nargs='+', metavar='IMAGE',
                        help='image files')
    parser.add_argument('--config', required=True,
                        help='the EHMMAE config of the checkpoint')
    parser.add_argument('--checkpoint', required=True,
                        help='an EHM training checkpoint of --config')
    parser.add_argument('--out-dir', default='vis_evolved_masks')
    parser.add_argument('--depths', type=float, nargs='+',
                        default=list(DEFAULT_DEPTHS), metavar='FRACTION',
                        help='fractions of the tree height of row (a), in '
                        '[0, 1] (default: %(default)s)')
    parser.add_argument('--progress', type=float, nargs='+',
                        default=list(DEFAULT_PROGRESS), metavar='P',
                        help='training progress (iter / max_iters) of row '
                        '(b), in [0, 1] (default: %(default)s)')
    parser.add_argument('--attention-layers', type=int, metavar='L',
                        help="the first L blocks' attention builds the tree "
                        "(default: the config's attention_layers)")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the masks')
    return parser, parser.parse_args(argv)


def out_paths(images, out_dir):
    """``<out-dir>/<stem>_evolved_masks.png`` per image, ``_2``, ``_3`` ...
    for repeated stems."""
    paths, seen = [], {}
    for path in images:
        stem = osp.splitext(osp.basename(path))[0]
        seen[stem] = seen.get(stem, 0) + 1
        suffix = f'_{seen[stem]}' if seen[stem] > 1 else ''
        paths.append(osp.join(out_dir, f'{stem}{suffix}_evolved_masks.png'))
    return paths


def main(argv=None):
    parser, args = parse_args(argv)
    for name in ('depths', 'progress'):
        try:
            check_fractions(getattr(args, name), name)
        except ValueError as err:
            parser.error(f'argument --{name}: {err}')
    register_all_modules()
    try:
        cfg = load_config(args.config)
        check_model_type(cfg, args.config, EHMMAE, 'an EHMMAE config')
    except (FileNotFoundError, ValueError) as err:
        parser.error(f'argument --config: {err}')
    try:
        model = build_ehm_model(cfg, args.checkpoint)
    except (FileNotFoundError, ValueError) as err:
        parser.error(f'argument --checkpoint: {err}')
    num_blocks = len(model.backbone.layers)
    layers = args.attention_layers
    if layers is None:
        layers = model.attention_layers
    elif not 1 <= layers <= num_blocks:
        parser.error(f'argument --attention-layers: {args.attention_layers} '
                     f'outside [1, {num_blocks}], the blocks of '
                     f'{args.config}')
    height, width = model.backbone.img_size
    if height != width:
        parser.error(f'{args.config}: model.backbone.img_size is '
                     f'{width}x{height}; this tool crops square images')
    images = []
    for path in args.images:  # every image before any output
        try:
            images.append(read_image(path, height))
        except (FileNotFoundError, ValueError) as err:
            parser.error(str(err))
    masker, own = ehm_masker(model.masker)
    if not own:
        print(f'note: {args.config}: model.masker is '
              f'{type(model.masker).__name__}, not an '
              "EvolvedHierarchicalMasker; row (b) uses EHM's "
              f'EvolvedHierarchicalMasker(mask_ratio='
              f'{DEFAULT_MASKER["mask_ratio"]})')
    mean, std, rgb = preprocessing(cfg)
    os.makedirs(args.out_dir, exist_ok=True)
    for path, image, out in zip(args.images, images,
                                out_paths(args.images, args.out_dir)):
        example = evolved_mask_example(image, model, masker, args.depths,
                                       args.progress, layers, args.seed,
                                       mean, std, rgb)
        fig = plot_evolved_masks(
            example, f'{osp.basename(path)}: evolved hierarchical masking '
            f'(tree from {layers} blocks, height {example.height}; masks '
            f'seed {args.seed})')
        fig.savefig(out, dpi=DPI)
        parts = ', '.join(str(example.num_parts(i))
                          for i in range(len(example.depths)))
        print(f'{path} -> {out} (tree height {example.height}; parts at '
              f'depths {args.depths}: {parts}; masks '
              f'{example.num_masked}/{example.masks[0].numel()} tokens)')


if __name__ == '__main__':
    main()
