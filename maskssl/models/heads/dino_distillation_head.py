"""DINO's self-distillation loss, MST's instance discrimination loss
(MST Sec. 3.1, Eq. 2)."""
import numbers
from typing import Any, List, Optional, Union

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_fraction, check_int


def centred_teacher_probs(teacher_out: Tensor, center: Tensor,
                          teacher_temp: float) -> Tensor:
    """The teacher's targets: centred and sharpened, without gradient.

    ``softmax((t - c) / teacher_temp)`` over the prototypes (DINO Sec. 3.1,
    "centering and sharpening"; ``DINOLoss.forward`` in DINO's main_dino.py).

    Args:
        teacher_out (Tensor): (T*B, K) teacher scores of the global crops.
        center (Tensor): (1, K) running centre of the teacher scores.
        teacher_temp (float): the teacher's temperature.

    Returns:
        Tensor: (T*B, K) probabilities, detached.
    """
    with torch.no_grad():
        return torch.softmax((teacher_out - center) / teacher_temp, dim=-1)


def dino_cross_entropy(student_out: Tensor,
                       teacher_probs: Tensor,
                       num_student_crops: int,
                       num_teacher_crops: int,
                       student_temp: float = 0.1) -> Tensor:
    """MST Eq. 2: the student's cross entropy to the teacher's targets over
    every pair of a teacher crop and a different student crop.

    ``-sum_k P_t(x_i)_k log P_s(x_j)_k`` with ``P_s = softmax(s /
    student_temp)``, averaged over the batch, then over all pairs ``(i, j)``
    with ``i != j``: ``T * (S - 1)`` pairs. Eq. 2 sums over the pairs; the
    mean over them is DINO's code (``total_loss /= n_loss_terms``), which
    MST's settings follow (Sec. 4.1) and MST's Alg. 2 does for two crops.
    Teacher crop ``i`` is the same image crop as student crop ``i`` for
    ``i < T`` (the global crops come first).

    Args:
        student_out (Tensor): (S*B, K) student scores of the ``S`` crops,
            stacked crop-major (crop 0's batch, then crop 1's, ...).
        teacher_probs (Tensor): (T*B, K) teacher targets of the ``T`` global
            crops, stacked crop-major (:func:`centred_teacher_probs`).
        num_student_crops (int): ``S``, the global and local crops.
        num_teacher_crops (int): ``T``, the global crops, ``1 <= T <= S``,
            ``S >= 2``.
        student_temp (float): the student's temperature. Defaults to 0.1.

    Returns:
        Tensor: the scalar loss.
    """
    num_s = check_int(num_student_crops, 'num_student_crops', minimum=2)
    num_t = check_int(num_teacher_crops, 'num_teacher_crops')
    if num_t > num_s:
        raise ValueError(f'num_teacher_crops={num_t} > num_student_crops='
                         f'{num_s}: the teacher sees the global crops, which '
                         'the student sees too')
    if (student_out.dim() != 2 or not student_out.shape[0]
            or student_out.shape[0] % num_s):
        raise ValueError(
            f'student_out of shape {tuple(student_out.shape)} is not '
            f'(S*B, K) with S=num_student_crops={num_s}')
    batch = student_out.shape[0] // num_s
    if teacher_probs.shape != (num_t * batch, student_out.shape[1]):
        raise ValueError(
            f'teacher_probs of shape {tuple(teacher_probs.shape)}; expected '
            f'(T*B, K) = ({num_t * batch}, {student_out.shape[1]}) with '
            f'T={num_t} and B, K from student_out {tuple(student_out.shape)}')
    log_probs = torch.log_softmax(student_out / student_temp, dim=-1)
    log_probs = log_probs.view(num_s, batch, -1)
    probs = teacher_probs.view(num_t, batch, -1).to(log_probs.dtype)
    # pair_ce[i, j]: batch-mean cross entropy of teacher crop i, student j
    pair_ce = -torch.einsum('ibk,jbk->ij', probs, log_probs) / batch
    other_crop = torch.ones_like(pair_ce, dtype=torch.bool)
    other_crop[:, :num_t].fill_diagonal_(False)
    return pair_ce[other_crop].mean()


def updated_center(center: Tensor, batch_center: Tensor,
                   momentum: float) -> Tensor:
    """DINO's centre EMA (``update_center`` in main_dino.py):
    ``m * center + (1 - m) * batch_center``.

    Args:
        center (Tensor): (1, K) the current centre.
        batch_center (Tensor): (1, K) mean teacher score of this step, over
            all ranks.
        momentum (float): ``m``.

    Returns:
        Tensor: (1, K) the new centre.
    """
    return momentum * center + (1 - momentum) * batch_center


def _check_positive(value: Any, name: str, owner: str) -> float:
    if (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and value > 0):
        return float(value)
    raise ValueError(f'{owner}: {name}={value!r} ({type(value).__name__}); '
                     'expected a positive number')


@MODELS.register_module()
class DINODistillationHead(BaseModule):
    """DINO's loss with a centred, sharpened teacher (MST Eq. 2; ``DINOLoss``
    in DINO's main_dino.py).

    ``teacher_temp`` is a plain attribute: the warm-up from 0.04 to 0.07 over
    the first epochs (DINO's ``warmup_teacher_temp``, which MST follows,
    Sec. 4.1) is set by a hook. The defaults are DINO's.

    Args:
        out_channels (int): ``K``, the number of prototypes (the neck's
            ``out_channels``).
        student_temp (float): the student's temperature. Defaults to 0.1.
        teacher_temp (float): the teacher's temperature at the start.
            Defaults to 0.04.
        center_momentum (float): ``m`` of the centre EMA, in [0, 1).
            Defaults to 0.9.
        init_cfg (dict or list[dict], optional): initialisation config.
    """

    def __init__(self,
                 out_channels: int,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.04,
                 center_momentum: float = 0.9,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        owner = type(self).__name__
        self.out_channels = check_int(
            out_channels, 'out_channels', owner=owner)
        self.student_temp = _check_positive(student_temp, 'student_temp',
                                            owner)
        self.teacher_temp = _check_positive(teacher_temp, 'teacher_temp',
                                            owner)
        self.center_momentum = check_fraction(
            center_momentum, 'center_momentum', owner=owner,
            low_inclusive=True)
        self.register_buffer('center', torch.zeros(1, self.out_channels))

    def loss(self, student_out: Tensor, teacher_out: Tensor,
             num_student_crops: int) -> Tensor:
        """The loss of one step; updates the centre afterwards.

        Args:
            student_out (Tensor): (S*B, K) student scores of all ``S`` crops,
                stacked crop-major, the ``T`` global crops first.
            teacher_out (Tensor): (T*B, K) teacher scores of the global
                crops, stacked crop-major.
            num_student_crops (int): ``S``.

        Returns:
            Tensor: the scalar loss (:func:`dino_cross_entropy`).
        """
        num_s = check_int(num_student_crops, 'num_student_crops', minimum=2)
        if not student_out.shape[0] or student_out.shape[0] % num_s:
            raise ValueError(
                f'student_out of shape {tuple(student_out.shape)} is not '
                f'(S*B, K) with S=num_student_crops={num_s}')
        batch = student_out.shape[0] // num_s
        if teacher_out.shape[0] % batch:
            raise ValueError(
                f'teacher_out of shape {tuple(teacher_out.shape)} is not '
                f'(T*B, K) with B={batch} from student_out')
        probs = centred_teacher_probs(teacher_out, self.center,
                                      self.teacher_temp)
        loss = dino_cross_entropy(student_out, probs, num_s,
                                  teacher_out.shape[0] // batch,
                                  self.student_temp)
        self.update_center(teacher_out)
        return loss

    @torch.no_grad()
    def update_center(self, teacher_out: Tensor) -> None:
        """Move the centre towards this step's mean teacher score.

        The batch mean is averaged over ranks (all-reduce sum / world size,
        as DINO; a no-op in a single process).

        Args:
            teacher_out (Tensor): (T*B, K) teacher scores.
        """
        batch_center = teacher_out.detach().mean(
            dim=0, keepdim=True).to(self.center.dtype)
        all_reduce(batch_center)
        batch_center /= get_world_size()
        self.center.copy_(
            updated_center(self.center, batch_center, self.center_momentum))
