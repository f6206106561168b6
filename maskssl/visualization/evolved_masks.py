"""Evolved Hierarchical Masking for display (Figs. 6 and 7 of "Evolved
Hierarchical Masking for Self-Supervised Learning",
https://arxiv.org/abs/2504.09155, Sec. IV-C): the tree of an image's patches
cut at several depths, each part a colour over the image (Fig. 6), and the
masks the evolved masker makes at several points of training, masked
patches greyed out (Fig. 7), drawn with matplotlib's Agg canvas (no pyplot
state, no display).

The computation is the training code's: the guidance is what
``EHMMAE.token_mask`` gives the masker (``masker_guidance`` of
:mod:`maskssl.models.algorithms.token_masker_host`: the patch-to-patch
attention of the first ``attention_layers`` blocks, averaged over heads and
blocks, from the encoder's ``embed`` -> ``attention`` pass, Sec. V-E), the
tree is
:func:`~maskssl.models.maskers.hierarchy.build_hierarchy` (Sec. IV-A, Eqs.
6-13), each partition panel is cut with ``masking_depth`` /
``parts_at_depth`` and each mask panel is the masker's own ``mask_tree``
(Sec. IV-B, Eqs. 14-17, what ``EvolvedHierarchicalMasker.generate`` does
after building the tree), the tree built once per image.
A training-progress value ``p`` stands for ``iter / max_iters``, the
message hub's value the masker reads during training: the depth fraction
is the masker's ``start + (end - start) * p`` (:func:`progress_fraction`),
so no global state is touched.
"""
import colorsys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from maskssl.checkpoint import describe_state_mismatch, read_checkpoint
from maskssl.models.algorithms.token_masker_host import masker_guidance
from maskssl.models.maskers import EvolvedHierarchicalMasker
from maskssl.models.maskers.hierarchy import (build_hierarchy, masking_depth,
                                              parts_at_depth)
from maskssl.utils.arg_checks import check_fraction
from .mst_masks import grey_out, patch_pixels
from .saliency_masks import IMAGENET_MEAN, IMAGENET_STD, normalize

# the figure's defaults: five cuts from the leaves to the root (Fig. 6) and
# five points of training from its start to its end (Fig. 7)
DEFAULT_DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_PROGRESS = (0.0, 0.25, 0.5, 0.75, 1.0)
# EHMMAE's default masker (EHM Sec. V-B), for a model with another masker
DEFAULT_MASKER = dict(type='EvolvedHierarchicalMasker', mask_ratio=0.75)
PANEL_SIZE = (2.4, 2.7)  # inches per panel (width, height)
PART_ALPHA = 0.55  # weight of a part's colour over the image
BOUNDARY = 'white'  # the colour of the lines between parts
BOUNDARY_WIDTH = 0.8  # their width (points)


def preprocessing(cfg: Dict) -> Tuple[Tuple[float, ...], Tuple[float, ...],
                                      bool]:
    """``(mean, std, rgb)`` of the data preprocessor a config's model gets:
    ``model.data_preprocessor``, else the top-level ``data_preprocessor``
    (mmengine's ``Runner`` merges the latter into the model only where the
    model names none). ``rgb``: the preprocessor converts the loaded BGR
    images to RGB (``to_rgb``, mmpretrain's ``SelfSupDataPreprocessor``, or
    ``bgr_to_rgb``, mmengine's), so ``mean`` / ``std`` are in RGB order;
    else the model was trained on BGR. mmpretrain's ImageNet values (RGB)
    when no preprocessor gives a mean and std."""
    pre = ((cfg.get('model') or {}).get('data_preprocessor')
           or cfg.get('data_preprocessor'))
    if pre and pre.get('mean') is not None and pre.get('std') is not None:
        rgb = bool(pre.get('to_rgb') or pre.get('bgr_to_rgb'))
        return (tuple(map(float, pre['mean'])), tuple(map(float, pre['std'])),
                rgb)
    return IMAGENET_MEAN, IMAGENET_STD, True


def load_model_weights(model: nn.Module, filename: str) -> int:
    """Load an EHM training checkpoint (the whole model's state: ``backbone.``,
    ``neck.``, ``head.`` and, for ``attention_source='ema'``,
    ``attention_ema.``) into ``model``, strictly.

    Returns:
        int: The number of tensors loaded.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Naming the file, when it is not a checkpoint or holds
            NaN/inf values (:func:`~maskssl.checkpoint.read_checkpoint`),
            has no ``backbone.*`` keys (an extracted backbone or another
            file, not a training checkpoint), or does not fit ``model``
            (missing, unexpected or mis-shaped keys: another architecture
            than the config's).
    """
    state = read_checkpoint(filename)['state_dict']
    if not any(key.startswith('backbone.') for key in state):
        keys = sorted(state)
        raise ValueError(
            f'{filename}: no "backbone.*" keys (it has {len(keys)} keys, e.g. '
            f'{keys[:3]}): not an EHM training checkpoint; expected a '
            'checkpoint written by training an EHMMAE config (work_dirs/'
            '<config>/epoch_<n>.pth)')
    mismatch = describe_state_mismatch(model.state_dict(), state)
    if mismatch:
        raise ValueError(
            f"{filename}: does not fit the config's {type(model).__name__}: "
            f'{mismatch}; pass the config it was trained with')
    model.load_state_dict(state, strict=True)
    return len(state)


def build_ehm_model(cfg: Dict, checkpoint: str) -> nn.Module:
    """The model of an EHM config (``EHMMAE``) with a training checkpoint's
    weights (:func:`load_model_weights`, whose errors it raises), in eval
    mode.

    Args:
        cfg (dict): The config; its ``model`` is built with the top-level
            ``data_preprocessor`` merged in as mmengine's ``Runner`` does.
        checkpoint (str): The training checkpoint.

    Raises:
        ValueError: The backbone gives no masker guidance (no ``embed`` and
            ``attention``).
    """
    model_cfg = dict(cfg['model'])
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg['data_preprocessor'])
    model = MODELS.build(model_cfg)
    backbone = getattr(model, 'backbone', None)
    if not all(hasattr(backbone, name) for name in ('embed', 'attention')):
        raise ValueError(
            f'model.backbone is a {type(backbone).__name__}, which gives no '
            'masker guidance; expected a TokenMaskMAEViT')
    load_model_weights(model, checkpoint)
    model.eval()
    return model


def ehm_masker(masker: nn.Module) -> Tuple[EvolvedHierarchicalMasker, bool]:
    """``masker`` (a model's ``masker``) if it is an
    ``EvolvedHierarchicalMasker``, else one of :data:`DEFAULT_MASKER`;
    and whether it is the model's own."""
    if isinstance(masker, EvolvedHierarchicalMasker):
        return masker, True
    return MODELS.build(dict(DEFAULT_MASKER)), False


def check_fractions(values: Sequence[float], name: str) -> List[float]:
    """``values`` as floats if there is at least one and each is a number
    in ``[0, 1]`` (:func:`~maskssl.utils.arg_checks.check_fraction`), else
    a ValueError naming ``name`` and the value."""
    values = list(values)
    if not values:
        raise ValueError(f'{name}=[]; expected one or more numbers in '
                         '[0, 1]')
    return [check_fraction(v, name, '', True, True) for v in values]


def progress_fraction(masker: EvolvedHierarchicalMasker,
                      progress: float) -> float:
    """The depth fraction (of each tree's height) ``masker`` cuts at when
    the training progress ``iter / max_iters`` is ``progress``: ``start +
    (end - start) * progress`` for ``depth='evolved'`` (what
    ``EvolvedHierarchicalMasker.depth_fraction`` reads from the message
    hub), the fixed fraction otherwise (Table IV's only-shallow / only-deep
    masks do not evolve)."""
    if masker.depth != 'evolved':
        return float(masker.depth)
    return masker.start + (masker.end - masker.start) * progress


def part_labels(parts: Tensor) -> Tensor:
    """Part ids -> labels ``0 .. K-1`` numbered in the order their first
    patch appears in raster order (``(..., N)`` long, the last dimension
    one image's patches; :func:`parts_at_depth` gives node ids up to
    ``2N - 2``)."""
    flat = parts.reshape(-1, parts.shape[-1])
    labels = torch.empty_like(flat)
    for row, ids in enumerate(flat):
        _, inverse = torch.unique(ids, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1, ), ids.numel(),
                           dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(ids.numel()), 'amin')
        labels[row] = first.argsort().argsort()[inverse]
    return labels.reshape(parts.shape)


def part_colours(num_parts: int) -> np.ndarray:
    """``(num_parts, 3)`` uint8 RGB colours: hues stepped by the golden
    ratio, so that labels close in number (neighbouring parts in raster
    order) get far-apart hues however many parts there are."""
    hues = (np.arange(num_parts) * 0.6180339887498949) % 1.0
    return np.array([[round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.75,
                                                                    0.95)]
                     for h in hues], dtype=np.uint8).reshape(num_parts, 3)


def part_boundaries(labels: Tensor,
                    patch_size: Tuple[int, int]) -> np.ndarray:
    """The lines between the parts of an ``(h, w)`` label map, in the
    pixel coordinates of ``imshow`` (pixel centres at integers):
    ``(K, 2, 2)`` float segments ``[[x0, y0], [x1, y1]]``, one per pair of
    side-by-side tokens with different labels (vertical ones first, then
    horizontal ones, each in raster order), for a ``LineCollection``. Drawn
    as lines rather than pixels, they stay thin however few pixels a patch
    has."""
    ph, pw = patch_size
    grid = labels.numpy()
    rows, cols = np.nonzero(grid[:, :-1] != grid[:, 1:])
    x = (cols + 1) * pw - 0.5
    vertical = np.stack([np.stack([x, rows * ph - 0.5], -1),
                         np.stack([x, (rows + 1) * ph - 0.5], -1)], 1)
    rows, cols = np.nonzero(grid[:-1] != grid[1:])
    y = (rows + 1) * ph - 0.5
    horizontal = np.stack([np.stack([cols * pw - 0.5, y], -1),
                           np.stack([(cols + 1) * pw - 0.5, y], -1)], 1)
    return np.concatenate([vertical, horizontal]).astype(np.float64)


def overlay_parts(image: np.ndarray, labels: Tensor,
                  patch_size: Tuple[int, int],
                  alpha: float = PART_ALPHA) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 ``image`` with each part of the ``(h, w)``
    label map (:func:`part_labels`) in its colour (:func:`part_colours`) at
    weight ``alpha`` (Fig. 6)."""
    pixels = patch_pixels(labels, patch_size).numpy()
    colours = part_colours(int(labels.max()) + 1)[pixels].astype(np.float64)
    out = (1 - alpha) * image.astype(np.float64) + alpha * colours
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass
class EvolvedMaskExample:
    """Everything the figure of one image shows.

    Attributes:
        image (np.ndarray): ``(H, W, 3)`` RGB uint8, the model's input.
        height (int): The tree's height (the root's level, Eq. 10).
        depths (list[float]): The depth fractions of the partition row.
        depth_levels (list[int]): Their levels ``floor(fraction * height)``
            (:func:`masking_depth`, Eq. 14).
        partitions (Tensor): ``(len(depths), h, w)`` long part labels
            (:func:`part_labels`) of the tree cut at each level.
        progress (list[float]): The training progress of the mask row.
        progress_fractions (list[float]): The masker's depth fraction at
            each (:func:`progress_fraction`).
        progress_levels (list[int]): The levels cut at.
        masks (Tensor): ``(len(progress), h, w)`` bool, True = masked.
        num_masked (int): Patches every mask covers (the masker's count).
        patch_size (tuple[int, int]): ``(ph, pw)`` pixels per token.
    """
    image: np.ndarray
    height: int
    depths: List[float]
    depth_levels: List[int]
    partitions: Tensor
    progress: List[float]
    progress_fractions: List[float]
    progress_levels: List[int]
    masks: Tensor
    num_masked: int
    patch_size: Tuple[int, int]

    def num_parts(self, row: int) -> int:
        """Parts of the partition ``row``."""
        return int(self.partitions[row].max()) + 1


@torch.no_grad()
def similarity_guidance(model: nn.Module, x: Tensor,
                        num_layers: int) -> Tuple[Tensor, Tuple[int, int]]:
    """The masker's guidance for ``(B, 3, H, W)`` normalised images, as
    ``EHMMAE.token_mask`` computes it: ``(B, N, N)`` patch-to-patch
    attention of the first ``num_layers`` blocks averaged over heads and
    blocks (EHM Eq. 6's input), from the EMA copy where the model keeps one
    (``attention_source='ema'``; not updated here), else from the backbone;
    and the patch grid ``(h, w)``."""
    encoder = model.backbone
    if getattr(model, 'attention_ema', None) is not None:
        encoder = model.attention_ema.module
    tokens, grid = encoder.embed(x)
    return masker_guidance(encoder, tokens, num_layers, 'similarity'), grid


def evolved_mask_example(image: np.ndarray,
                         model: nn.Module,
                         masker: EvolvedHierarchicalMasker,
                         depths: Sequence[float] = DEFAULT_DEPTHS,
                         progress: Sequence[float] = DEFAULT_PROGRESS,
                         num_layers: Optional[int] = None,
                         seed: Optional[int] = None,
                         mean: Sequence[float] = IMAGENET_MEAN,
                         std: Sequence[float] = IMAGENET_STD,
                         rgb: bool = True) -> EvolvedMaskExample:
    """The tree of one image cut at ``depths`` and ``masker``'s masks at
    ``progress``.

    Args:
        image (np.ndarray): ``(H, W, 3)`` RGB uint8
            (:func:`~maskssl.visualization.read_image`) at the backbone's
            ``img_size``.
        model (nn.Module): An ``EHMMAE`` (:func:`build_ehm_model`).
        masker (EvolvedHierarchicalMasker): Its masker (:func:`ehm_masker`).
        depths (Sequence[float]): Fractions of the tree's height, in
            ``[0, 1]`` (0: the leaves, every patch its own part; 1: the
            root, one part).
        progress (Sequence[float]): Training progress values ``iter /
            max_iters`` in ``[0, 1]``.
        num_layers (int, optional): The blocks whose attention builds the
            tree; the model's ``attention_layers`` when ``None``.
        seed (int, optional): Every mask is drawn from a generator seeded
            with it, so the panels share their random part and patch keys
            and differ only by the depth; the global RNG when ``None``.
        mean, std (Sequence[float]): The normalisation, in the model's
            channel order (:func:`preprocessing`).
        rgb (bool): The model takes RGB (else BGR) images.

    Raises:
        ValueError: A depth or progress value outside ``[0, 1]``, or
            ``num_layers`` outside ``[1, blocks]``.
    """
    depths = check_fractions(depths, 'depths')
    progress = check_fractions(progress, 'progress')
    num_blocks = len(model.backbone.layers)
    num_layers = model.attention_layers if num_layers is None else num_layers
    if not 1 <= num_layers <= num_blocks:
        raise ValueError(f'num_layers={num_layers}; expected 1 to the '
                         f"backbone's {num_blocks} blocks")
    device = next(model.parameters()).device
    x = normalize(image if rgb else image[..., ::-1], mean, std).to(device)
    guidance, (h, w) = similarity_guidance(model, x, num_layers)
    tree = build_hierarchy(guidance)
    height = int(tree.height[0])

    def cut(fraction: float) -> Tuple[int, Tensor]:
        level = masking_depth(fraction, tree.height)
        return int(level[0]), parts_at_depth(tree, level)

    depth_levels, partitions = zip(*(cut(f) for f in depths))
    fractions = [progress_fraction(masker, p) for p in progress]
    count = masker.count(h * w)
    progress_levels, masks = [], []
    for fraction in fractions:
        level = int(masking_depth(fraction, tree.height)[0])
        generator = None
        if seed is not None:
            generator = torch.Generator(device=device).manual_seed(seed)
        progress_levels.append(level)
        masks.append(masker.mask_tree(tree, fraction, generator)[0])
    height_px, width_px = image.shape[:2]
    return EvolvedMaskExample(
        image=image, height=height, depths=depths,
        depth_levels=list(depth_levels),
        partitions=part_labels(torch.cat(partitions)).reshape(-1, h,
                                                               w).cpu(),
        progress=progress, progress_fractions=fractions,
        progress_levels=progress_levels,
        masks=torch.stack(masks).reshape(-1, h, w).cpu(), num_masked=count,
        patch_size=(height_px // h, width_px // w))


def figure_size(example: EvolvedMaskExample) -> Tuple[float, float]:
    """Inches: :data:`PANEL_SIZE` per panel, two rows, as many columns as
    the longer row."""
    columns = max(len(example.depths), len(example.progress))
    return PANEL_SIZE[0] * columns, PANEL_SIZE[1] * 2


def plot_evolved_masks(example: EvolvedMaskExample,
                       title: str = '') -> Figure:
    """Figs. 6 and 7 of EHM for one image, on an Agg canvas, in two rows:
    (a) the tree cut at each depth, each part a colour over the image with
    white lines between the parts (a ``LineCollection``), titled with the
    fraction, the level of the tree's height and the number of parts; (b)
    the mask at each training progress, masked patches greyed out, titled
    with the progress, the
    depth fraction and level, and the masked count. The shorter row's
    spare panels are left blank.

    Returns:
        Figure: :func:`figure_size`, ``2 x columns`` axes in row order.
        Save it with ``fig.savefig(path)``.
    """
    fig = Figure(figsize=figure_size(example), layout='constrained')
    FigureCanvasAgg(fig)
    columns = max(len(example.depths), len(example.progress))
    axes = fig.subplots(2, columns, squeeze=False)
    image, patch, height = example.image, example.patch_size, example.height
    n = example.masks[0].numel()
    for col, (fraction, level) in enumerate(
            zip(example.depths, example.depth_levels)):
        labels = example.partitions[col]
        axes[0, col].imshow(overlay_parts(image, labels, patch))
        axes[0, col].add_collection(LineCollection(
            part_boundaries(labels, patch), colors=BOUNDARY,
            linewidths=BOUNDARY_WIDTH))
        axes[0, col].set_title(
            f'(a) depth {fraction:g}: level {level}/{height}\n'
            f'{example.num_parts(col)} parts', fontsize=8)
    for col, (p, fraction, level) in enumerate(
            zip(example.progress, example.progress_fractions,
                example.progress_levels)):
        mask = example.masks[col]
        axes[1, col].imshow(grey_out(image, patch_pixels(mask,
                                                         patch).numpy()))
        axes[1, col].set_title(
            f'(b) progress {p:g}: depth {fraction:.3g}\n'
            f'level {level}/{height}, {int(mask.sum())}/{n} masked',
            fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
