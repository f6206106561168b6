"""Evolved Hierarchical Masking (EHM Sec. IV): masks that follow a tree of
the patches built from the model's own attention, at a depth that grows
with training."""
import numbers
from typing import Optional, Tuple, Union

import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_fraction
from .base_token_masker import BaseTokenMasker
from .functional import rounded_num_masked
from .hierarchy import (Hierarchy, build_hierarchy, evolved_mask,
                        masking_depth, parts_at_depth, random_leaf_order)


def training_progress(message_hub: MessageHub) -> float:
    """``iter / max_iters`` from mmengine's message hub, clamped to
    ``[0, 1]`` (the runner's ``RuntimeInfoHook`` stores both before every
    iteration, so a resumed run continues the schedule exactly); 0 when no
    ``max_iters`` is known (outside a training loop)."""
    max_iters = message_hub.get_info('max_iters')
    if not max_iters:
        return 0.0
    return min(max(message_hub.get_info('iter', 0) / max_iters, 0.0), 1.0)


@MODELS.register_module()
class EvolvedHierarchicalMasker(BaseTokenMasker):
    """Evolved Hierarchical Masking (EHM Sec. IV-A, IV-B).

    Per image, a binary tree over the ``N`` patches is built bottom-up by
    average-linkage merging of the guidance similarity (Adaptive Hierarchy
    Establishment, Eqs. 6-13, :func:`~.hierarchy.build_hierarchy`); it is
    cut at a masking depth (Eq. 14, :func:`~.hierarchy.masking_depth`) into
    parts (:func:`~.hierarchy.parts_at_depth`), and parts taken in random
    order are masked until ``round(mask_ratio * N)`` patches are
    covered, the last one truncated to a prefix of a random depth-first
    order of its subtree (Eqs. 15-17, :func:`~.hierarchy.evolved_mask`,
    :func:`~.hierarchy.random_leaf_order`), so every mask is a union of
    tree nodes, at the root cut too. At depth 0 this is random masking;
    deeper cuts mask whole groups of related patches.

    The count, the same in every image, is ``round(mask_ratio * N)``
    (:func:`~.functional.rounded_num_masked`, halves up): the count the
    paper's node selection covers (Sec. IV-B). The random and block maskers
    of the family keep MAE's and SimMIM's ``ceil(mask_ratio * N)``
    (:func:`~.functional.num_masked`); the two agree at the paper's settings
    (147 of 196 and 37 of 49 at 0.75) and differ by one elsewhere (78
    against 79 of 196 at BEiT's 0.4).

    Guidance: ``'similarity'``, ``(B, N, N)``: attention between the patches
    averaged over heads and the first blocks by the host; symmetrised here
    (Eq. 6). Fixed count.

    Args:
        mask_ratio (float): Fraction of the patches masked, in ``(0, 1)``.
            Defaults to 0.75 (EHM Sec. V-B, MAE's).
        depth (str | float): ``'evolved'``: the fraction of each tree's
            height at which it is cut moves linearly from ``start`` to
            ``end`` with the training progress ``iter / max_iters`` read
            from mmengine's message hub (0 outside training). A number in
            ``[0, 1]``: a fixed fraction of the height (EHM Table IV's
            ablations: 0.2 only shallow, 0.8 only deep). Defaults to
            ``'evolved'``.
        start (float): The fraction at the start of training, in
            ``[0, 1]``; only for ``depth='evolved'``. Defaults to 0 (the
            leaves).
        end (float): The fraction at the end of training, in ``[0, 1]``;
            only for ``depth='evolved'``. Defaults to 1 (the root).
    """

    guidance = 'similarity'
    fixed_count = True

    def __init__(self,
                 mask_ratio: float = 0.75,
                 depth: Union[str, float] = 'evolved',
                 start: float = 0.0,
                 end: float = 1.0) -> None:
        super().__init__()
        name = type(self).__name__
        self.mask_ratio = check_fraction(mask_ratio, 'mask_ratio', name)
        if depth != 'evolved':
            if not isinstance(depth, numbers.Real):
                raise ValueError(
                    f"{name}: depth={depth!r} ({type(depth).__name__}); "
                    f"expected 'evolved' or a number in [0, 1]")
            depth = check_fraction(depth, 'depth', name, True, True)
        self.depth = depth
        self.start = check_fraction(start, 'start', name, True, True)
        self.end = check_fraction(end, 'end', name, True, True)

    def depth_fraction(self) -> float:
        """The fraction of each tree's height to cut at now."""
        if self.depth != 'evolved':
            return self.depth
        progress = training_progress(MessageHub.get_current_instance())
        return self.start + (self.end - self.start) * progress

    def count(self, num_tokens: int) -> int:
        """Patches masked per image on a grid of ``num_tokens``:
        ``round(mask_ratio * num_tokens)``."""
        return rounded_num_masked(num_tokens, self.mask_ratio)

    def mask_tree(self, tree: Hierarchy, fraction: float,
                  generator: Optional[torch.Generator] = None) -> Tensor:
        """The ``(B, N)`` bool masks of built trees cut at ``fraction`` of
        their height (Eqs. 14-17): what :meth:`generate` does after building
        the trees, for callers that keep the tree (e.g. to draw it)."""
        num_leaves = tree.size.shape[1] // 2 + 1
        parts = parts_at_depth(tree, masking_depth(fraction, tree.height))
        leaf_order = random_leaf_order(tree, generator)
        return evolved_mask(parts, self.count(num_leaves), generator,
                            leaf_order)

    def generate(self, batch_size: int, grid: Tuple[int, int],
                 guidance: Optional[Tensor],
                 generator: Optional[torch.Generator],
                 device: Optional[torch.device]) -> Tensor:
        fraction = self.depth_fraction()
        # logged with the losses (the evolving depth, EHM Fig. 7)
        MessageHub.get_current_instance().update_scalar(
            'train/mask_depth', fraction)
        return self.mask_tree(build_hierarchy(guidance), fraction, generator)
