"""MST's attention-guided masking for display (Fig. 2 of "MST: Masked
Self-Supervised Transformer for Visual Representation",
https://arxiv.org/abs/2106.05656): an image, the teacher's class attention
over its patch grid, a random mask and the attention-guided mask, drawn
with matplotlib's Agg canvas (no pyplot state, no display).

The computation is the training code's: the teacher backbone
(``MSTVisionTransformer``, weights from an MST training checkpoint's
``teacher.module.0.*``) returns the last block's class attention (Eq. 4)
from ``forward_tokens(x, return_attention='cls')``, as
``MST.teacher_forward`` asks for it, and the maskers of
:mod:`maskssl.models.maskers` draw the masks with the call ``MST.loss``
makes: ``RandomTokenMasker`` (Eq. 3) and ``AttentionGuidedMasker`` (Eq. 5)
with the same ``p``. This module only keeps the masks for display and
testing.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from maskssl.checkpoint import (describe_state_mismatch, read_checkpoint,
                                strip_prefix)
from maskssl.models.maskers import AttentionGuidedMasker, RandomTokenMasker
from maskssl.models.maskers.functional import attention_guided_mask
from maskssl.utils import init_weights_quietly
from .saliency_masks import IMAGENET_MEAN, IMAGENET_STD, normalize

# where MST keeps the teacher's backbone: ``MST.teacher`` is a ``CosineEMA``
# of ``nn.Sequential(backbone, neck)`` (maskssl/models/algorithms/mst.py)
TEACHER_PREFIX = 'teacher.module.0.'
# MST's masker (Table 5's best), the default of ``MST(masker=...)``
DEFAULT_MASKER = dict(type='AttentionGuidedMasker', num=8, p=0.1)
# mmpretrain's VisionTransformer input size, when a config names none
DEFAULT_IMG_SIZE = 224
# four panels in one row (inches), for :func:`plot_mst_masks`
FIGURE_SIZE = (10.4, 3.2)
MASK_GREY = 128  # the pixel value of masked patches


def global_view_size(cfg: Dict) -> int:
    """The square size of the global views of an MST config: the
    ``RandomResizedCrop`` scale of the first ``'global'`` view group of the
    training pipeline's ``MultiViewWithRoles`` (224 for
    ``imagenet_bs128_mst.py``, 48 for the toy config); else
    ``model.backbone.img_size``; else 224 (mmpretrain's ViT default)."""
    loader = cfg.get('train_dataloader') or {}
    dataset = loader.get('dataset') or {}
    while 'pipeline' not in dataset and isinstance(
            dataset.get('dataset'), dict):  # dataset wrappers
        dataset = dataset['dataset']
    for transform in dataset.get('pipeline') or []:
        roles = transform.get('roles') or ()
        for role, group in zip(roles, transform.get('transforms') or ()):
            if role != 'global':
                continue
            for step in group:
                if not str(step.get('type', '')).endswith('RandomResizedCrop'):
                    continue
                scale = step.get('scale')
                if isinstance(scale, int):
                    return scale
                if isinstance(scale, Sequence) and len(set(scale)) == 1:
                    return int(scale[0])
    size = ((cfg.get('model') or {}).get('backbone') or {}).get(
        'img_size', DEFAULT_IMG_SIZE)
    return int(size if isinstance(size, int) else size[0])


def normalization(cfg: Dict) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """``(mean, std)`` of a config's data preprocessor (top-level
    ``data_preprocessor``, as mmpretrain's Runner merges it, else
    ``model.data_preprocessor``; mmpretrain's ImageNet values when neither
    gives them). MST's configs convert to RGB (``to_rgb=True``), the order
    :func:`~maskssl.visualization.read_image` gives."""
    for pre in (cfg.get('data_preprocessor'),
                (cfg.get('model') or {}).get('data_preprocessor')):
        if pre and pre.get('mean') is not None and pre.get('std') is not None:
            return tuple(map(float, pre['mean'])), tuple(map(float,
                                                             pre['std']))
    return IMAGENET_MEAN, IMAGENET_STD


def load_teacher_weights(backbone: nn.Module, filename: str,
                         prefix: str = TEACHER_PREFIX) -> int:
    """Load the teacher backbone of an MST training checkpoint (its
    ``prefix*`` tensors) into ``backbone``, strictly.

    Returns:
        int: The number of tensors loaded.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Naming the file, when it is not a checkpoint or holds
            NaN/inf values (:func:`~maskssl.checkpoint.read_checkpoint`),
            holds no ``prefix*`` keys (not an MST training checkpoint, e.g.
            an extracted backbone or a classifier), or its teacher does not
            fit ``backbone`` (missing, unexpected or mis-shaped keys: another
            architecture than the config's).
    """
    state = read_checkpoint(filename)['state_dict']
    teacher = strip_prefix(state, prefix)
    if not teacher:
        keys = sorted(state)
        raise ValueError(
            f'{filename}: no "{prefix}*" keys (it has {len(keys)} keys, e.g. '
            f'{keys[:3]}): not an MST training checkpoint; expected a '
            'checkpoint written by training an MST config (work_dirs/<config>'
            f'/epoch_<n>.pth), whose teacher backbone is "{prefix}*"')
    mismatch = describe_state_mismatch(backbone.state_dict(), teacher)
    if mismatch:
        raise ValueError(
            f'{filename}: its teacher backbone ("{prefix}*") does not fit the '
            f"config's {type(backbone).__name__}: {mismatch}; pass the config "
            'it was trained with')
    backbone.load_state_dict(teacher, strict=True)
    return len(teacher)


def build_teacher(backbone_cfg: Dict,
                  checkpoint: Optional[str] = None) -> Tuple[nn.Module, bool]:
    """The teacher backbone of an MST config, in eval mode.

    Args:
        backbone_cfg (dict): ``model.backbone`` of an MST config (an
            ``MSTVisionTransformer``).
        checkpoint (str, optional): An MST training checkpoint, loaded with
            :func:`load_teacher_weights` (whose errors it raises). Without
            it the backbone is randomly initialised (``init_weights``,
            quietly) and its attention is meaningless.

    Returns:
        tuple[nn.Module, bool]: The backbone, and whether it holds
        checkpoint weights.

    Raises:
        ValueError: The backbone cannot return its class attention (no
            ``forward_tokens`` / ``token_grid``).
    """
    backbone = MODELS.build(backbone_cfg)
    if not all(hasattr(backbone, name)
               for name in ('forward_tokens', 'token_grid')):
        raise ValueError(
            f'model.backbone is a {type(backbone).__name__}, which returns '
            'no class attention; expected an MSTVisionTransformer')
    if checkpoint:
        load_teacher_weights(backbone, checkpoint)
    else:
        init_weights_quietly(backbone)
    backbone.eval()  # ViT's ``train`` returns None, so not chained
    return backbone, bool(checkpoint)


def build_maskers(
    masker_cfg: Optional[Dict] = None
) -> Tuple[AttentionGuidedMasker, RandomTokenMasker]:
    """The attention-guided masker of ``masker_cfg`` (``model.masker`` of an
    MST config; :data:`DEFAULT_MASKER` when ``None``) and a
    ``RandomTokenMasker`` with its ``p``, the random strategy it is compared
    with (Fig. 2 (c), Table 4).

    Raises:
        ValueError: ``masker_cfg`` is another masker.
    """
    guided = MODELS.build(dict(masker_cfg or DEFAULT_MASKER))
    if not isinstance(guided, AttentionGuidedMasker):
        raise ValueError(
            f'masker {type(guided).__name__} is not an AttentionGuidedMasker')
    return guided, RandomTokenMasker(p=guided.p)


def candidate_tokens(importance: Tensor, num: int) -> Tensor:
    """The tokens the attention-guided masker may mask: its mask at
    ``p = 1`` (every candidate masked), i.e. the ``N // num`` tokens of
    lowest importance (Sec. 3.2). ``(B, N)`` float -> ``(B, N)`` bool."""
    never = torch.Generator(device=importance.device)  # draws all < 1
    return attention_guided_mask(importance, num, 1.0, never)


def patch_pixels(tokens: Tensor, patch_size: Tuple[int, int]) -> Tensor:
    """Token values over the image: ``(h, w)`` -> ``(h * ph, w * pw)``,
    every token repeated over its ``ph x pw`` patch (nearest upsampling by
    the patch size, as DINO's ``visualize_attention.py`` draws attention)."""
    ph, pw = patch_size
    return tokens.repeat_interleave(ph, 0).repeat_interleave(pw, 1)


def grey_out(image: np.ndarray, pixels: np.ndarray,
             grey: int = MASK_GREY) -> np.ndarray:
    """A copy of the ``(H, W, 3)`` uint8 ``image`` with the pixels where the
    ``(H, W)`` bool ``pixels`` is True set to ``grey``."""
    out = image.copy()
    out[pixels] = grey
    return out


@dataclass
class MSTMaskExample:
    """Everything the figure of one image shows.

    Attributes:
        image (np.ndarray): ``(H, W, 3)`` RGB uint8, the teacher's input.
        attention (Tensor): ``(h, w)`` the teacher's class attention (Eq.
            4) over the patch grid.
        candidates (Tensor): ``(h, w)`` bool, the ``N // num`` least
            attended tokens (:func:`candidate_tokens`).
        random_mask (Tensor): ``(h, w)`` bool, ``RandomTokenMasker`` (Eq.
            3), True = masked.
        guided_mask (Tensor): ``(h, w)`` bool, ``AttentionGuidedMasker``
            (Eq. 5), True = masked.
        patch_size (tuple[int, int]): ``(ph, pw)`` pixels per token.
        num (int): The masker's ``num``.
        p (float): The masking probability of both masks.
    """
    image: np.ndarray
    attention: Tensor
    candidates: Tensor
    random_mask: Tensor
    guided_mask: Tensor
    patch_size: Tuple[int, int]
    num: int
    p: float


@torch.no_grad()
def mst_mask_example(image: np.ndarray,
                     backbone: nn.Module,
                     guided: AttentionGuidedMasker,
                     random: RandomTokenMasker,
                     generator: Optional[torch.Generator] = None,
                     mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD) -> MSTMaskExample:
    """The teacher's class attention and both masks of one image.

    Args:
        image (np.ndarray): ``(H, W, 3)`` RGB uint8
            (:func:`~maskssl.visualization.read_image`), ``H`` and ``W``
            multiples of the backbone's patch size.
        backbone (nn.Module): The teacher (:func:`build_teacher`).
        guided, random: :func:`build_maskers`.
        generator (torch.Generator, optional): The masks' only randomness
            (the random mask is drawn first); the global RNG when ``None``.
        mean, std (Sequence[float]): The normalisation
            (:func:`normalization`).

    Raises:
        ValueError: ``H`` or ``W`` is not a multiple of the patch size.
    """
    device = next(backbone.parameters()).device
    x = normalize(image, mean, std).to(device)
    h, w = backbone.token_grid(x)
    height, width = image.shape[:2]
    if height % h or width % w:
        raise ValueError(
            f'the image is {width}x{height} px, not a whole {w}x{h} grid of '
            'patches; expected sides that are multiples of the patch size')
    _, attention = backbone.forward_tokens(x, return_attention='cls')
    attention = attention.float()  # (1, N)
    random_mask = random(1, (h, w), generator=generator, device=device)
    guided_mask = guided(1, (h, w), guidance=attention, generator=generator)
    return MSTMaskExample(
        image=image, attention=attention.reshape(h, w).cpu(),
        candidates=candidate_tokens(attention, guided.num).reshape(h,
                                                                   w).cpu(),
        random_mask=random_mask.reshape(h, w).cpu(),
        guided_mask=guided_mask.reshape(h, w).cpu(),
        patch_size=(height // h, width // w), num=guided.num, p=guided.p)


def _hide_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_mst_masks(example: MSTMaskExample, title: str = '') -> Figure:
    """Fig. 2 of MST for one image, on an Agg canvas, in four panels: (a)
    the image; (b) the class attention over it (nearest-upsampled by the
    patch size, a ``jet`` heat map at alpha 0.5); (c) the random mask and
    (d) the attention-guided mask, masked patches greyed out, (d) with its
    candidate tokens outlined. Titles give the counts, and for (c) how many
    masked tokens are among the most attended (the non-candidates), which
    (d) never masks.

    Returns:
        Figure: :data:`FIGURE_SIZE`, four axes in that order. Save it with
        ``fig.savefig(path)``.
    """
    fig = Figure(figsize=FIGURE_SIZE)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    image, patch = example.image, example.patch_size
    height, width = image.shape[:2]
    h, w = example.attention.shape
    n = h * w

    axes[0].imshow(image)
    axes[0].set_title(f'(a) image ({width}x{height})', fontsize=8)

    att = example.attention
    axes[1].imshow(image)
    axes[1].imshow(patch_pixels(att, patch).numpy(), cmap='jet', alpha=0.5)
    axes[1].set_title(
        f'(b) teacher class attention (Eq. 4)\n{h}x{w} tokens, '
        f'{float(att.min()):.3g} to {float(att.max()):.3g}', fontsize=8)

    panels = (('(c) random mask (Eq. 3)', example.random_mask),
              ('(d) attention-guided mask (Eq. 5)', example.guided_mask))
    for ax, (name, mask) in zip(axes[2:], panels):
        ax.imshow(grey_out(image, patch_pixels(mask, patch).numpy()))
        important = int((mask & ~example.candidates).sum())
        ax.set_title(f'{name}, p={example.p:g}\n{int(mask.sum())}/{n} masked, '
                     f'{important} of the {n - int(example.candidates.sum())}'
                     ' most attended', fontsize=8)
    for i, j in zip(*np.nonzero(example.candidates.numpy())):
        axes[3].add_patch(Rectangle(
            (j * patch[1] - 0.5, i * patch[0] - 0.5), patch[1], patch[0],
            fill=False, edgecolor='yellow', linewidth=0.8))
    axes[3].set_xlabel(f'yellow: the N/{example.num} least attended '
                       '(candidates)', fontsize=7)
    for ax in axes:
        _hide_ticks(ax)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
