"""Saliency-guided masked views for display (Fig. 3 of "Masking Improves
Contrastive Self-Supervised Learning for ConvNets, and Saliency Tells You
Where", https://arxiv.org/abs/2309.12757): the SCDA saliency grid of an
image and samples of the positive and hard-negative views of each fill
strategy, drawn with matplotlib's Agg canvas (no pyplot state, no display).

The masking itself is the training code's: :class:`SCDASaliency` gives the
foreground cells, and each fill (``BlurFill``, ``MeanFill``,
``HighPassFill``) draws its mask with ``sample_mask`` and fills it with
``fill`` exactly as its ``forward`` does, after its ``input_transform`` (the
high-pass filter of ``HighPassFill``); this module only keeps the masks
for display and testing.
"""
import copy
import os.path as osp
import textwrap
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from maskssl.datasets.transforms import CheckedLoadImageFromFile
from maskssl.models.saliency import BlurFill, HighPassFill, MeanFill
from maskssl.models.saliency.functional import cells_to_pixels
from maskssl.utils import init_weights_quietly

# mmpretrain's data preprocessor for ImageNet (RGB order, 0-255 pixels)
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
# the three fill strategies of Sec. 3.2, in the order of the figure's rows
STRATEGIES = ('BlurFill', 'MeanFill', 'HighPassFill')
MIN_IMG_SIZE = 32  # one cell of a stride-32 localisation network
# high-pass views are shown as 0.5 + v / (2 s), s this percentile of |v|
HIGH_PASS_PERCENTILE = 99.0


def read_image(path: str, size: int) -> np.ndarray:
    """An image file as a ``(size, size, 3)`` RGB uint8 array: the shorter
    side resized to ``size`` (bilinear), then the centre ``size x size``
    crop (the aspect ratio is kept, as in mmpretrain's test pipeline).

    Raises:
        FileNotFoundError: ``path`` is not a file (the message names it).
        ValueError: It cannot be decoded (names it, its size and the
            decoder's error: ``CheckedLoadImageFromFile``'s message).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image "{path}" does not exist; expected '
                                'an image file (jpg, png, ...)')
    img = CheckedLoadImageFromFile()(dict(img_path=path))['img']  # BGR
    img = mmcv.bgr2rgb(img)
    h, w = img.shape[:2]
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    img = mmcv.imresize(img, (new_w, new_h), interpolation='bilinear')
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(img[top:top + size, left:left + size])


def normalize(img: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> Tensor:
    """``(H, W, 3)`` RGB uint8 -> ``(1, 3, H, W)`` float32, ``(x - mean) /
    std`` per channel, as mmpretrain's data preprocessor normalises."""
    x = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)
    mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return ((x - mean) / std)[None]


def denormalize(x: Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """``(3, H, W)`` normalised -> ``(H, W, 3)`` float RGB in ``[0, 1]``
    (``x * std + mean``, divided by 255, clipped)."""
    mean = torch.tensor(mean, dtype=x.dtype)[:, None, None]
    std = torch.tensor(std, dtype=x.dtype)[:, None, None]
    pixels = (x.detach().cpu() * std + mean) / 255
    return pixels.clamp(0, 1).permute(1, 2, 0).numpy()


def high_pass_scale(x: Tensor, std: Sequence[float] = IMAGENET_STD,
                    percentile: float = HIGH_PASS_PERCENTILE) -> float:
    """The display scale ``s`` of high-passed images: the ``percentile`` of
    ``|x * std|`` (high-pass values in 0-255 pixel units) over ``x``, one
    ``(..., 3, H, W)`` tensor (the unmasked high-passed image, so that all
    views of one image share the scale and noise is comparable)."""
    v = x.detach().cpu().float() * torch.tensor(std)[:, None, None]
    s = float(np.percentile(v.abs().numpy(), percentile))
    return s if s > 0 else 1.0


def high_pass_display(x: Tensor, scale: float,
                      std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """``(3, H, W)`` high-passed normalised image -> ``(H, W, 3)`` in
    ``[0, 1]``: ``0.5 + (x * std) / (2 * scale)``, clipped (zero is mid
    grey; ``scale`` from :func:`high_pass_scale`). A high-passed image is
    centred on zero, so de-normalising it (adding the mean) would show a
    flat grey; this rescaling is for visibility only."""
    v = x.detach().cpu().float() * torch.tensor(std)[:, None, None]
    return (0.5 + v / (2 * scale)).clamp(0, 1).permute(1, 2, 0).numpy()


def resnet_network(depth: int = 50) -> dict:
    """An mmpretrain ``ResNet`` config for ``SCDASaliency``'s localisation
    network: its last stage (stride 32), no checkpoint."""
    return dict(type='ResNet', depth=depth, out_indices=(3, ))


def _pretrained(init_cfg) -> List[dict]:
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [c for c in cfgs
            if isinstance(c, dict) and c.get('type') == 'Pretrained']


def build_saliency(checkpoint: Optional[str] = None,
                   depth: int = 50,
                   saliency_cfg: Optional[dict] = None
                   ) -> Tuple[nn.Module, bool]:
    """An initialised ``SCDASaliency`` with a pretrained-source network.

    Args:
        checkpoint (str, optional): The localisation network's checkpoint,
            an ImageNet-supervised ResNet, checked and verified by
            ``SCDASaliency.init_weights`` (a missing file, another network
            or an empty state dict raise errors naming the file). It
            replaces the checkpoint of ``saliency_cfg``'s network, or is
            loaded with ``prefix='backbone.'``: an mmpretrain classifier
            such as ``resnet50_8xb32_in1k``, or a torchvision ``resnet50``
            file, which has no ``backbone.`` keys and is read without the
            prefix (its ``fc.*`` classifier ignored).
            Nothing is downloaded: without a checkpoint the network is
            random.
        depth (int): ResNet depth of the default network. Defaults to 50.
        saliency_cfg (dict, optional): An ``SCDASaliency`` config (e.g. a
            pretraining config's ``model.saliency``). Used when its source
            is ``'pretrained'`` (its network, ``std_factor``, ``stride``,
            ...); otherwise ignored (the momentum source needs a trained
            model, and a config without saliency has no network) and the
            default ResNet is used with its ``std_factor`` and ``stride``.

    Returns:
        tuple[nn.Module, bool]: The module in eval mode, and whether its
        network holds checkpoint weights (False: random, ``allow_random``).
    """
    cfg = copy.deepcopy(dict(saliency_cfg)) if saliency_cfg else {}
    if cfg.get('source', 'pretrained') != 'pretrained' or not isinstance(
            cfg.get('network'), dict):
        cfg = {k: cfg[k] for k in ('std_factor', 'stride') if k in cfg}
        cfg['network'] = resnet_network(depth)
    cfg.update(type='SCDASaliency', source='pretrained')
    network = cfg['network'] = dict(cfg['network'])
    entries = _pretrained(network.get('init_cfg'))
    if checkpoint:
        if entries:
            for entry in entries:
                entry['checkpoint'] = checkpoint
        else:
            network['init_cfg'] = dict(type='Pretrained',
                                       checkpoint=checkpoint,
                                       prefix='backbone.')
    loaded = any(e.get('checkpoint') for e in
                 _pretrained(network.get('init_cfg')))
    cfg['allow_random'] = not loaded
    saliency = MODELS.build(cfg)
    init_weights_quietly(saliency)
    return saliency.eval(), loaded


def build_fills(fill_cfg: Optional[dict] = None) -> Dict[str, nn.Module]:
    """The three fill strategies, by name (:data:`STRATEGIES`).

    Args:
        fill_cfg (dict, optional): One fill config (a pretraining config's
            ``model.fill``): its ``masker`` is used by all three strategies
            and its own arguments by the strategy of its type; the other
            strategies take their defaults (the paper's settings).
    """
    fill_cfg = copy.deepcopy(dict(fill_cfg)) if fill_cfg else {}
    kind = str(fill_cfg.get('type', '')).split('.')[-1]
    masker = fill_cfg.get('masker', dict(type='SaliencyCellMasker'))
    fills = {}
    for name in STRATEGIES:
        cfg = dict(fill_cfg) if kind == name else {}
        cfg.update(type=name, masker=copy.deepcopy(masker))
        fills[name] = MODELS.build(cfg)
    return fills


@dataclass
class MaskedViews:
    """Masked views of one image by one fill strategy.

    Attributes:
        inputs (Tensor): ``(1, 3, H, W)`` the strategy's input (the
            normalised image after its ``input_transform``).
        positives, negatives (Tensor): ``(S, 3, H, W)`` masked views.
        pos_masks, neg_masks (Tensor): ``(S, 3, H, W)`` bool, the pixels
            each view replaced.
        pos_modes, neg_modes (list[str], optional): ``HighPassFill``'s mode
            of each view (``'focal'``, ``'spatial'``, ``'channel-wise'``);
            ``None`` for the other fills (always spatial).
        high_pass (bool): The inputs are high-passed (``HighPassFill``):
            shown rescaled, not de-normalised.
    """
    inputs: Tensor
    positives: Tensor
    negatives: Tensor
    pos_masks: Tensor
    neg_masks: Tensor
    pos_modes: Optional[List[str]] = None
    neg_modes: Optional[List[str]] = None
    high_pass: bool = False


@dataclass
class SaliencyMaskExample:
    """Everything the figure of one image shows.

    Attributes:
        image (np.ndarray): ``(H, W, 3)`` RGB uint8, as masked.
        activation (Tensor): ``(U, V)`` channel-summed last-stage map ``A``.
        foreground (Tensor): ``(U, V)`` bool SCDA cells (Eq. 1).
        std_factor (float): The threshold's factor (0.6).
        views (dict[str, MaskedViews]): By strategy name.
        settings (str): The masking settings, one per line
            (:func:`describe_settings`).
        mean, std (tuple): The normalisation.
    """
    image: np.ndarray
    activation: Tensor
    foreground: Tensor
    std_factor: float
    views: Dict[str, MaskedViews]
    settings: str = ''
    mean: Tuple[float, ...] = IMAGENET_MEAN
    std: Tuple[float, ...] = IMAGENET_STD


def _range(pair) -> str:
    low, high = pair
    return f'{low:g}' if low == high else f'U({low:g}, {high:g})'


def describe_settings(fills: Dict[str, nn.Module],
                      std_factor: float) -> str:
    """The saliency threshold, the masker's and each fill's settings, one
    per line, for the figure."""
    lines = [f'SCDA: fg cells where A >= mean(A) - {std_factor:g} std(A)']
    described = []
    for masker in [f.masker for f in fills.values() if hasattr(f, 'masker')]:
        key = (masker.alpha, masker.beta, masker.saliency,
               masker.mask_non_salient)
        if key in described:  # the same settings as another fill's masker
            continue
        described.append(key)
        lines.append(
            f'positive: alpha ~ {_range(masker.alpha)}, int(alpha N) cells '
            + ('split fg:bg = gamma:(1 - gamma)' if masker.saliency
               and masker.mask_non_salient else
               'of the fg only' if masker.saliency else
               'anywhere (saliency off)'))
        lines.append(f'hard negative: beta ~ {_range(masker.beta)}, '
                     + ('round(beta #fg) fg cells' if masker.saliency
                        else 'round(beta N) cells anywhere'))
    for name, fill in fills.items():
        if isinstance(fill, HighPassFill):
            lines.append(
                f'{name}: x - blur(x) (kernel {fill.blur_kernel_size}, '
                f'sigma {fill.blur_sigma:g}); noise std '
                f'{fill.pos_noise_std:g} / {fill.neg_noise_std:g}; focal '
                f'p={fill.focal_prob:g}, else spatial p='
                f'{fill.spatial_prob:g} or channel-wise; fg cap '
                f'{fill.max_fg_fraction:g}')
        elif isinstance(fill, BlurFill):
            lines.append(f'{name}: blurred copy (kernel {fill.kernel_size}, '
                         f'sigma {fill.sigma:g})')
        elif isinstance(fill, MeanFill):
            lines.append(f'{name}: per-image channel mean')
        else:
            lines.append(f'{name}: {type(fill).__name__}')
    return '\n'.join(lines)


def _clone(generator: torch.Generator) -> torch.Generator:
    clone = torch.Generator(device=generator.device)
    clone.set_state(generator.get_state())
    return clone


def _modes(fill: nn.Module, batch: int, generator: torch.Generator
           ) -> Optional[List[str]]:
    """``HighPassFill``'s per-view modes of the next ``sample_mask`` call:
    it draws them first (``sample_modes``), so a copy of the generator
    replays them without changing what the fill draws."""
    if not hasattr(fill, 'sample_modes'):
        return None
    focal, spatial = fill.sample_modes(batch, generator.device,
                                       _clone(generator))
    return ['focal' if f else 'spatial' if s else 'channel-wise'
            for f, s in zip(focal.tolist(), spatial.tolist())]


@torch.no_grad()
def sample_masked_views(inputs: Tensor, foreground: Tensor,
                        fills: Dict[str, nn.Module], samples: int = 3,
                        generator: Optional[torch.Generator] = None
                        ) -> Dict[str, MaskedViews]:
    """``samples`` positive and ``samples`` hard-negative views of one
    image for each fill, drawn as training draws them: the image repeated
    ``samples`` times is one batch (each copy its own ratio and cells),
    ``fill.input_transform`` first, then ``sample_mask`` and ``fill``
    (what ``forward`` does), positives before negatives, fills in the
    order of ``fills``.

    Args:
        inputs (Tensor): ``(1, 3, H, W)`` normalised image.
        foreground (Tensor): ``(1, U, V)`` bool SCDA cells.
        fills (dict[str, nn.Module]): Fill strategies by name.
        samples (int): Views of each kind. Defaults to 3.
        generator (torch.Generator, optional): The only randomness, on the
            inputs' device; the same seed gives the same masks and views.

    Returns:
        dict[str, MaskedViews]: By the names of ``fills``.
    """
    if generator is None:
        generator = torch.Generator(device=inputs.device)
        generator.seed()
    imgs = inputs.expand(samples, *inputs.shape[1:])
    fg = foreground.expand(samples, *foreground.shape[1:])
    views = {}
    for name, fill in fills.items():
        x = fill.input_transform(imgs)
        out = {}
        for kind, negative in (('pos', False), ('neg', True)):
            modes = _modes(fill, samples, generator)
            mask = fill.sample_mask(x, fg, negative, generator)
            out[kind] = (fill.fill(x, mask, negative, generator), mask,
                         modes)
        views[name] = MaskedViews(
            inputs=x[:1], positives=out['pos'][0], negatives=out['neg'][0],
            pos_masks=out['pos'][1], neg_masks=out['neg'][1],
            pos_modes=out['pos'][2], neg_modes=out['neg'][2],
            high_pass=isinstance(fill, HighPassFill))
    return views


@torch.no_grad()
def saliency_mask_example(image: np.ndarray, saliency: nn.Module,
                          fills: Dict[str, nn.Module], samples: int = 3,
                          generator: Optional[torch.Generator] = None,
                          mean: Sequence[float] = IMAGENET_MEAN,
                          std: Sequence[float] = IMAGENET_STD
                          ) -> SaliencyMaskExample:
    """SCDA saliency and masked views of one image.

    Args:
        image (np.ndarray): ``(H, W, 3)`` RGB uint8 (:func:`read_image`).
        saliency (nn.Module): A pretrained-source ``SCDASaliency``
            (:func:`build_saliency`).
        fills (dict[str, nn.Module]): :func:`build_fills`.
        samples (int): Positive and negative views per strategy.
        generator (torch.Generator, optional): See
            :func:`sample_masked_views`.
        mean, std (Sequence[float]): The normalisation (mmpretrain's
            ImageNet data preprocessor by default).
    """
    device = next(saliency.network.parameters()).device
    inputs = normalize(image, mean, std).to(device)
    foreground = saliency(inputs)  # the training path, with its checks
    out = saliency.network(inputs)
    features = out[-1] if isinstance(out, (tuple, list)) else out
    views = sample_masked_views(inputs, foreground, fills, samples,
                                generator)
    return SaliencyMaskExample(
        image=image, activation=features[0].float().sum(0).cpu(),
        foreground=foreground[0].cpu(), std_factor=saliency.std_factor,
        views=views, settings=describe_settings(fills, saliency.std_factor),
        mean=tuple(mean), std=tuple(std))


def cell_edges(cells: int, pixels: int) -> List[float]:
    """Pixel coordinates (``imshow``'s, pixel centres at integers) of the
    boundaries between ``cells`` cells over ``pixels`` pixels, as
    ``cells_to_pixels`` partitions them: cell ``u`` starts at pixel
    ``ceil(u * pixels / cells)``."""
    return [-(-u * pixels // cells) - 0.5 for u in range(1, cells)]


def masked_fractions(mask: Tensor, foreground: Tensor) -> Tensor:
    """``(S, 2)``: the fraction of foreground and of background pixels
    (over channels) each ``(S, C, H, W)`` mask replaces, for the titles;
    ``foreground`` is the ``(U, V)`` cell grid (0 where a region is
    empty)."""
    fg = cells_to_pixels(foreground.to(mask.device), mask.shape[-2:])
    fg = fg[None, None].expand(mask.shape)
    m = mask.float()
    n_fg, n_bg = fg[0].sum().clamp(min=1), (~fg[0]).sum().clamp(min=1)
    return torch.stack([(m * fg).flatten(1).sum(1) / n_fg,
                        (m * ~fg).flatten(1).sum(1) / n_bg], 1).cpu()


def _hide_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_grid(ax, grid: Tuple[int, int], size: Tuple[int, int],
               color: str = 'white') -> None:
    (u, v), (h, w) = grid, size
    for y in cell_edges(u, h):
        ax.axhline(y, color=color, linewidth=0.8)
    for x in cell_edges(v, w):
        ax.axvline(x, color=color, linewidth=0.8)


def plot_saliency_masks(example: SaliencyMaskExample,
                        title: str = '') -> Figure:
    """Fig. 3 for one image, on an Agg canvas.

    Row 0: the image; the activation map ``A`` with the foreground cells
    outlined; the image with the cell grid drawn, foreground cells tinted
    and background cells dimmed; the settings (text). Then one row per
    strategy: its input (the image, or the high-passed image), ``S``
    positives and ``S`` hard negatives, each titled with the fraction of
    foreground and background pixels it replaced (and the mode, for
    ``HighPassFill``). High-pass
    images are rescaled for visibility (:func:`high_pass_display`) and
    titled so; the others are de-normalised.

    Returns:
        Figure: ``4 + len(views) * (1 + 2 S)`` axes, in that order (row by
        row). Save it with ``fig.savefig(path)``.
    """
    views = example.views
    samples = next(iter(views.values())).positives.shape[0]
    cols = max(4, 1 + 2 * samples)
    rows = 1 + len(views)
    fig = Figure(figsize=(2.0 * cols, 2.5 * rows + 0.4))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, cols)
    h, w = example.image.shape[:2]
    fg = example.foreground.numpy()
    u, v = fg.shape

    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(example.image)
    ax.set_title(f'image ({w}x{h})', fontsize=8)
    _hide_ticks(ax)

    act = example.activation.numpy()
    ax = fig.add_subplot(grid[0, 1])
    ax.imshow(act, cmap='viridis', interpolation='nearest',
              extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    edges_y = [-0.5] + cell_edges(u, h) + [h - 0.5]
    edges_x = [-0.5] + cell_edges(v, w) + [w - 0.5]
    for i, j in zip(*np.nonzero(fg)):
        ax.add_patch(Rectangle((edges_x[j], edges_y[i]),
                               edges_x[j + 1] - edges_x[j],
                               edges_y[i + 1] - edges_y[i], fill=False,
                               edgecolor='red', linewidth=1.2))
    ax.set_title(f'A (channel sum); red: fg\n'
                 f'A >= mean - {example.std_factor:g} std', fontsize=8)
    _hide_ticks(ax)

    pixels = cells_to_pixels(example.foreground, (h, w)).numpy()
    overlay = np.zeros((h, w, 4))
    overlay[pixels] = (1.0, 0.85, 0.0, 0.35)  # foreground: yellow tint
    overlay[~pixels] = (0.0, 0.0, 0.0, 0.55)  # background: dimmed
    ax = fig.add_subplot(grid[0, 2])
    ax.imshow(example.image)
    ax.imshow(overlay)
    _draw_grid(ax, (u, v), (h, w))
    ax.set_title(f'SCDA saliency: {int(fg.sum())}/{fg.size} cells fg\n'
                 f'({u}x{v} cells of ~{h / u:.0f}x{w / v:.0f} px)',
                 fontsize=8)
    _hide_ticks(ax)

    ax = fig.add_subplot(grid[0, 3:])
    ax.axis('off')
    chars = int((cols - 3) * 2.0 * 72 / (0.6 * 7))  # monospace, 7 pt
    text = '\n'.join(textwrap.fill(line, chars, subsequent_indent='  ')
                     for line in example.settings.splitlines())
    ax.text(0.0, 1.0, text, fontsize=7, va='top', ha='left',
            family='monospace', transform=ax.transAxes)

    for row, (name, vw) in enumerate(views.items(), start=1):
        if vw.high_pass:
            scale = high_pass_scale(vw.inputs[0], example.std)

            def show(x, scale=scale):
                return high_pass_display(x, scale, example.std)
            note = ' (rescaled)'
            head = ('high-pass input, shown as\n0.5 + x/2s, s = '
                    f'p{HIGH_PASS_PERCENTILE:g} |x| = {scale:.1f}')
        else:
            def show(x):
                return denormalize(x, example.mean, example.std)
            note, head = '', 'input (de-normalised)'
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(show(vw.inputs[0]))
        ax.set_ylabel(name, fontsize=9)
        ax.set_title(head, fontsize=8)
        _hide_ticks(ax)
        fractions = masked_fractions(
            torch.cat([vw.pos_masks, vw.neg_masks]), example.foreground)
        kinds = [('positive', vw.positives, vw.pos_modes),
                 ('negative', vw.negatives, vw.neg_modes)]
        for k, (kind, imgs, modes) in enumerate(kinds):
            for i in range(samples):
                ax = fig.add_subplot(grid[row, 1 + k * samples + i])
                ax.imshow(show(imgs[i]))
                f_fg, f_bg = fractions[k * samples + i].tolist()
                mode = f'{modes[i]}\n' if modes else ''
                ax.set_title(f'{kind} {i + 1}{note}\n{mode}'
                             f'masked fg {f_fg:.0%}, bg {f_bg:.0%}',
                             fontsize=8)
                _hide_ticks(ax)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
