"""What the three fill strategies of saliency-guided masking share (Sec. 3.2
of https://arxiv.org/abs/2309.12757): the cell masker, input checks, and the
``sample_mask`` / ``fill`` split of ``forward``."""
from typing import List, Optional, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from .functional import cells_to_pixels


class BaseCellFill(BaseModule):
    """A masking strategy: choose pixels (:meth:`sample_mask`), then replace
    them (:meth:`fill`). Not registered; see ``BlurFill``, ``MeanFill`` and
    ``HighPassFill``.

    ``forward`` returns a masked copy of its input and leaves the input
    unchanged. All work is batched on the input's device, and all randomness
    comes from the optional ``generator`` (on that device): the cell mask is
    drawn first, then whatever the fill draws, so re-seeding the generator
    and calling :meth:`sample_mask` reproduces the mask ``forward`` used.

    Args:
        masker (dict or nn.Module): The cell masker, built with
            ``MODELS.build`` from a config. Defaults to
            ``dict(type='SaliencyCellMasker')``.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 masker: Union[dict, nn.Module] = dict(
                     type='SaliencyCellMasker'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        self.masker = (MODELS.build(masker) if isinstance(masker, dict)
                       else masker)

    def input_transform(self, imgs: Tensor) -> Tensor:
        """Applied by the algorithm to every view (masked or not) and by the
        downstream probe of the model; the identity here.

        Args:
            imgs (Tensor): ``(B, C, H, W)`` normalised images.

        Returns:
            Tensor: ``(B, C, H, W)``.
        """
        return imgs

    def _check_inputs(self, imgs: Tensor,
                      foreground: Tensor) -> Tuple[int, int, int, int]:
        owner = type(self).__name__
        if imgs.dim() != 4 or not imgs.is_floating_point():
            raise ValueError(
                f'{owner}: imgs of dtype {imgs.dtype} and shape '
                f'{tuple(imgs.shape)}; expected float (B, C, H, W)')
        b, c, h, w = imgs.shape
        if (foreground.dtype != torch.bool or foreground.dim() != 3
                or foreground.shape[0] != b or foreground.shape[1] > h
                or foreground.shape[2] > w):
            raise ValueError(
                f'{owner}: foreground of dtype {foreground.dtype} and shape '
                f'{tuple(foreground.shape)} for images of shape '
                f'{tuple(imgs.shape)}; expected a bool (B, U, V) cell grid '
                f'with B = {b}, U <= {h}, V <= {w}')
        return b, c, h, w

    def cell_mask_pixels(self, imgs: Tensor, cells: Tensor) -> Tensor:
        """A ``(B, [C,] U, V)`` cell mask as a ``(B, C, H, W)`` pixel mask
        (:func:`~maskssl.models.saliency.functional.cells_to_pixels`; a grid
        without channels is shared by the channels, as an expanded view)."""
        pixels = cells_to_pixels(cells, imgs.shape[-2:])
        if pixels.dim() == 3:
            pixels = pixels[:, None]
        return pixels.expand(imgs.shape)

    def sample_mask(self,
                    imgs: Tensor,
                    foreground: Tensor,
                    negative: bool = False,
                    generator: Optional[torch.Generator] = None) -> Tensor:
        """The pixels to replace: the masker's cells (one spatial mask per
        image, shared by the channels).

        Args:
            imgs (Tensor): ``(B, C, H, W)``; only its shape and device are
                used.
            foreground (Tensor): ``(B, U, V)`` bool SCDA cells.
            negative (bool): Hard negative or positive view.
            generator (torch.Generator, optional): On the images' device.

        Returns:
            Tensor: ``(B, C, H, W)`` bool, ``True`` = replaced.
        """
        self._check_inputs(imgs, foreground)
        return self.cell_mask_pixels(
            imgs, self.masker(foreground, negative, generator))

    def fill(self,
             imgs: Tensor,
             mask: Tensor,
             negative: bool = False,
             generator: Optional[torch.Generator] = None) -> Tensor:
        """Replace the pixels of ``mask`` (``(B, C, H, W)`` bool) in a copy
        of ``imgs`` (``(B, C, H, W)``)."""
        raise NotImplementedError

    def forward(self,
                imgs: Tensor,
                foreground: Tensor,
                negative: bool = False,
                generator: Optional[torch.Generator] = None) -> Tensor:
        """Mask a batch of views.

        Args:
            imgs (Tensor): ``(B, C, H, W)`` normalised images (already
                passed through :meth:`input_transform`).
            foreground (Tensor): ``(B, U, V)`` bool SCDA cells of these
                views.
            negative (bool): A hard negative (masks ``beta`` of the
                foreground) instead of a positive (``alpha`` of the image).
            generator (torch.Generator, optional): On the images' device.

        Returns:
            Tensor: ``(B, C, H, W)``, a masked copy of ``imgs``, same dtype.
        """
        mask = self.sample_mask(imgs, foreground, negative, generator)
        return self.fill(imgs, mask, negative, generator)
