"""MST's attention-guided token masking (Sec. 3.2, Alg. 1, Eq. 5)."""
from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_fraction, check_int
from .base_token_masker import BaseTokenMasker
from .functional import attention_guided_mask


@MODELS.register_module()
class AttentionGuidedMasker(BaseTokenMasker):
    """Mask only tokens the teacher finds unimportant (MST Sec. 3.2): the
    ``N // num`` tokens of lowest importance (the teacher's class attention
    over the patches, Eq. 4) are candidates, each masked with probability
    ``p`` (Eq. 5); the most-attended tokens are never masked. See
    :func:`~maskssl.models.maskers.functional.attention_guided_mask`.

    Guidance: ``'importance'``, ``(B, N)``. The count varies per image.

    Args:
        num (int): ``1/num`` of the tokens are candidates. Defaults to 8.
        p (float): Masking probability of a candidate. Defaults to 0.1
            (MST Table 5's best with ``num=8``).
    """

    guidance = 'importance'
    fixed_count = False

    def __init__(self, num: int = 8, p: float = 0.1) -> None:
        super().__init__()
        name = type(self).__name__
        self.num = check_int(num, 'num', 1, name)
        self.p = check_fraction(p, 'p', name, high_inclusive=True)

    def generate(self, batch_size: int, grid: Tuple[int, int],
                 guidance: Optional[Tensor],
                 generator: Optional[torch.Generator],
                 device: Optional[torch.device]) -> Tensor:
        return attention_guided_mask(guidance, self.num, self.p, generator)
