"""BEiT's block-wise masking, batched on the training device."""
import numbers
from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_fraction, check_int
from .base_token_masker import BaseTokenMasker
from .functional import block_mask, num_masked


@MODELS.register_module()
class BlockMasker(BaseTokenMasker):
    """Rectangles of tokens until exactly the target count is masked (BEiT
    Alg. 1, mmpretrain's ``BEiTMaskGenerator``; the "block" baseline of EHM
    Table III), see :func:`~maskssl.models.maskers.functional.block_mask`.

    Args:
        mask_ratio (float): Fraction masked, ``N - int(N * (1 -
            mask_ratio))`` tokens. Defaults to 0.4 (BEiT: 75 of 196).
        num_masking_patches (int, optional): An exact count instead of the
            ratio (BEiT's configs give 75).
        min_num_patches (int): Smallest block area. Defaults to 16 (BEiT's
            configs).
        max_num_patches (int, optional): Largest block area; the target
            count when ``None``.
        min_aspect (float): Smallest block aspect ratio; the largest is its
            inverse unless ``max_aspect`` is given. Defaults to 0.3.
        max_aspect (float, optional): Largest block aspect ratio.
    """

    def __init__(self,
                 mask_ratio: float = 0.4,
                 num_masking_patches: Optional[int] = None,
                 min_num_patches: int = 16,
                 max_num_patches: Optional[int] = None,
                 min_aspect: float = 0.3,
                 max_aspect: Optional[float] = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.mask_ratio = check_fraction(mask_ratio, 'mask_ratio', name)
        self.num_masking_patches = None if num_masking_patches is None else \
            check_int(num_masking_patches, 'num_masking_patches', 0, name)
        self.min_num_patches = check_int(min_num_patches, 'min_num_patches',
                                         1, name)
        self.max_num_patches = None if max_num_patches is None else \
            check_int(max_num_patches, 'max_num_patches', 1, name)
        for key, value in (('min_aspect', min_aspect),
                           ('max_aspect', max_aspect)):
            if value is not None and not (
                    isinstance(value, numbers.Real)
                    and not isinstance(value, bool) and value > 0):
                raise ValueError(f'{name}: {key}={value!r}; expected a '
                                 f'positive number')
        self.min_aspect, self.max_aspect = min_aspect, max_aspect

    def count(self, num_tokens: int) -> int:
        """Tokens masked per image on a grid of ``num_tokens``."""
        if self.num_masking_patches is None:
            return num_masked(num_tokens, self.mask_ratio)
        if self.num_masking_patches > num_tokens:
            raise ValueError(
                f'BlockMasker: num_masking_patches={self.num_masking_patches}'
                f' exceeds the {num_tokens} tokens of the grid')
        return self.num_masking_patches

    def generate(self, batch_size: int, grid: Tuple[int, int],
                 guidance: Optional[Tensor],
                 generator: Optional[torch.Generator],
                 device: Optional[torch.device]) -> Tensor:
        return block_mask(batch_size, grid, self.count(grid[0] * grid[1]),
                          self.min_num_patches, self.max_num_patches,
                          self.min_aspect, self.max_aspect, generator, device)
