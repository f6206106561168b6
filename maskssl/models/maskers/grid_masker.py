"""MAE's grid-wise masking: one token kept per ``cell x cell`` block."""
from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_int
from .base_token_masker import BaseTokenMasker
from .functional import grid_mask


@MODELS.register_module()
class GridMasker(BaseTokenMasker):
    """One token of every ``cell x cell`` block kept, the rest masked
    (``1 - 1 / cell**2`` of the tokens; MAE Fig. 6's grid-wise sampling, the
    "grid" baseline of EHM Table III). The kept position inside the blocks
    is drawn per image (MAE fixes it). The grid's sides must be multiples of
    ``cell``.

    Args:
        cell (int): Block side in tokens. Defaults to 2 (75% masked).
    """

    def __init__(self, cell: int = 2) -> None:
        super().__init__()
        self.cell = check_int(cell, 'cell', 2, type(self).__name__)

    def generate(self, batch_size: int, grid: Tuple[int, int],
                 guidance: Optional[Tensor],
                 generator: Optional[torch.Generator],
                 device: Optional[torch.device]) -> Tensor:
        if grid[0] % self.cell or grid[1] % self.cell:
            raise ValueError(
                f'GridMasker: the token grid {grid[0]} x {grid[1]} is not a '
                f'multiple of cell={self.cell}')
        return grid_mask(batch_size, grid, self.cell, generator, device)
