"""The interface every token masker of maskssl implements."""
from abc import ABCMeta, abstractmethod
from typing import Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from maskssl.utils.arg_checks import check_int

GUIDANCE_KINDS = (None, 'importance', 'similarity')


class BaseTokenMasker(BaseModule, metaclass=ABCMeta):
    """A token masker: one call that returns which patch tokens to mask.

    ``masker(batch_size, grid, guidance=None, generator=None, device=None)``
    returns a bool ``(B, N)`` mask over the ``N = h * w`` patch tokens of a
    ``(h, w)`` grid in raster order, True = masked (mmpretrain's
    ``data_sample.mask``). Masks are made outside the backbone, which only
    takes ``mask=``, as mmpretrain's SimMIM and BEiT backbones do, so that
    an algorithm takes any masker from its config.

    Subclasses declare:

    - ``guidance``: what the masker needs from its host: ``None``;
      ``'importance'``, a ``(B, N)`` float score per token (e.g. the
      teacher's class attention, MST Eq. 4); ``'similarity'``, a
      ``(B, N, N)`` float token-to-token similarity (e.g. attention between
      patches). A masker ignores guidance it does not declare.
    - ``fixed_count``: True when every image masks the same number of
      tokens, which hosts that drop the masked tokens (MAE) require; see
      :func:`require_fixed_count`.

    and implement :meth:`generate`. Anything that evolves with training is
    read from mmengine's message hub (as ``CosineEMA`` reads
    ``max_iters``), so the call stays the same for every masker.
    """

    guidance: Optional[str] = None
    fixed_count: bool = True

    def forward(self,
                batch_size: int,
                grid: Sequence[int],
                guidance: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None,
                device: Optional[torch.device] = None) -> Tensor:
        """A bool ``(batch_size, h * w)`` mask, True = masked.

        Args:
            batch_size (int): Images ``B``.
            grid (Sequence[int]): The token grid ``(h, w)``.
            guidance (Tensor, optional): ``(B, N)`` importance or
                ``(B, N, N)`` similarity, as :attr:`guidance` declares.
            generator (torch.Generator, optional): Source of randomness, on
                the device of the mask; the global RNG when ``None``.
            device (torch.device, optional): Where the mask is made;
                defaults to the guidance's device, else the generator's,
                else the CPU.
        """
        name = type(self).__name__
        batch_size = check_int(batch_size, 'batch_size', 1, name)
        if (not isinstance(grid, Sequence) or len(grid) != 2):
            raise ValueError(f'{name}: grid={grid!r}; expected (h, w)')
        h, w = (check_int(v, 'grid', 1, name) for v in grid)
        if self.guidance is None:
            guidance = None
        else:
            guidance = self._check_guidance(guidance, batch_size, h * w)
            device = guidance.device
        if device is None:
            device = generator.device if generator is not None else None
        mask = self.generate(batch_size, (h, w), guidance, generator, device)
        return mask

    def _check_guidance(self, guidance: Optional[Tensor], batch_size: int,
                        num_tokens: int) -> Tensor:
        """``guidance`` if it has the shape :attr:`guidance` declares."""
        shape = (batch_size, num_tokens) if self.guidance == 'importance' \
            else (batch_size, num_tokens, num_tokens)
        if (not isinstance(guidance, Tensor) or tuple(guidance.shape) != shape
                or not guidance.is_floating_point()):
            got = ('None' if guidance is None else
                   f'{type(guidance).__name__} of shape '
                   f'{tuple(getattr(guidance, "shape", ()))}')
            raise ValueError(
                f'{type(self).__name__} is guided by a {self.guidance}: '
                f'expected a float tensor of shape {shape}, got {got}')
        return guidance

    @abstractmethod
    def generate(self, batch_size: int, grid: Tuple[int, int],
                 guidance: Optional[Tensor],
                 generator: Optional[torch.Generator],
                 device: Optional[torch.device]) -> Tensor:
        """The ``(B, N)`` bool mask of checked arguments."""


def require_fixed_count(masker: BaseTokenMasker, host: str) -> None:
    """Refuse a masker whose masked count varies per image, for a ``host``
    that needs the same count in every image (e.g. MAE, which drops the
    masked tokens and stacks the rest)."""
    if not masker.fixed_count:
        raise ValueError(
            f'{host} needs the same number of masked tokens in every image, '
            f'but {type(masker).__name__} masks a variable number '
            f'(fixed_count=False); use a fixed-count masker such as '
            f'FixedRatioMasker, BlockMasker or GridMasker')
