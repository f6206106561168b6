"""BERT-style random token masking (MST Eq. 3)."""
from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_fraction
from .base_token_masker import BaseTokenMasker
from .functional import bernoulli_mask


@MODELS.register_module()
class RandomTokenMasker(BaseTokenMasker):
    """Every token masked independently with probability ``p`` (MST Eq. 3,
    after BERT; the "random mask strategy" of MST Table 4). The count
    varies per image.

    Args:
        p (float): Masking probability. Defaults to 0.15 (BERT, MST Sec.
            3.2).
    """

    fixed_count = False

    def __init__(self, p: float = 0.15) -> None:
        super().__init__()
        self.p = check_fraction(p, 'p', type(self).__name__,
                                high_inclusive=True)

    def generate(self, batch_size: int, grid: Tuple[int, int],
                 guidance: Optional[Tensor],
                 generator: Optional[torch.Generator],
                 device: Optional[torch.device]) -> Tensor:
        return bernoulli_mask(batch_size, grid[0] * grid[1], self.p,
                              generator, device)
