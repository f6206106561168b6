"""Per-level Grad-CAM and clustering maps of a MaskDeep checkpoint (Sec. 7,
Fig. 4 of the paper), saved as one PNG per image.

Example::

    python tools/visualization/vis_maskdeep.py \
        configs/maskdeep/maskdeep_resnet50_16xb64-coslr-100e_in1k.py \
        work_dirs/maskdeep/epoch_100.pth demo/pig.jpg --out-dir vis/

Each PNG has one row per level (finest first): the resized image, the Grad-CAM
over it, and the clustering map.
"""
import argparse
import os
import os.path as osp

import cv2
import mmcv
import numpy as np
import torch
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from maskssl.launch import check_model_type, load_config
from maskssl.models import MaskDeep
from maskssl.utils import register_all_modules
from maskssl.visualization import maskdeep_level_maps

# colours of the clusters (BGR)
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25],
                    [0, 130, 200], [245, 130, 48], [145, 30, 180],
                    [70, 240, 240], [240, 50, 230]], dtype=np.uint8)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out-dir', default='vis_maskdeep')
    parser.add_argument('--img-size', type=int, default=224,
                        help='images are resized to this square size')
    parser.add_argument('--num-clusters', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def to_input(img: np.ndarray, model: torch.nn.Module) -> torch.Tensor:
    """(H, W, 3) BGR uint8 -> (1, 3, H, W) normalised by the model's data
    preprocessor."""
    view = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    data = model.data_preprocessor(dict(inputs=[view], data_samples=None),
                                   False)
    return data['inputs'][0]


def render(img: np.ndarray, maps) -> np.ndarray:
    """Rows of [image | Grad-CAM overlay | clustering map], one per level."""
    width_height = img.shape[1::-1]
    rows = []
    for cam, clusters in maps:
        heat = mmcv.imresize((cam.numpy() * 255).astype(np.uint8),
                             width_height, interpolation='bilinear')
        heat = cv2.applyColorMap(heat, cv2.COLORMAP_JET)
        overlay = (0.5 * img + 0.5 * heat).astype(np.uint8)
        colours = mmcv.imresize(PALETTE[clusters.numpy() % len(PALETTE)],
                                width_height, interpolation='nearest')
        rows.append(np.concatenate([img, overlay, colours], axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    args = parse_args()
    register_all_modules()
    cfg = load_config(args.config)
    check_model_type(cfg, args.config, MaskDeep,
                     'a MaskDeep config such as configs/maskdeep/'
                     'maskdeep_resnet50_16xb64-coslr-100e_in1k.py')
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint "{args.checkpoint}" does not '
                                'exist')
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    model.eval()
    os.makedirs(args.out_dir, exist_ok=True)
    generator = torch.Generator().manual_seed(args.seed)
    for path in args.images:
        img = mmcv.imread(path)
        if img is None:
            raise FileNotFoundError(f'image "{path}" cannot be read')
        img = mmcv.imresize(img, (args.img_size, args.img_size))
        maps = maskdeep_level_maps(model, to_input(img, model),
                                   args.num_clusters, generator)
        out = osp.join(args.out_dir,
                       osp.splitext(osp.basename(path))[0] + '_maskdeep.png')
        mmcv.imwrite(render(img, maps), out)
        print(f'{path} -> {out} ({len(maps)} levels)')


if __name__ == '__main__':
    main()
