"""Multi-group sparse point sampling over a feature pyramid: the random
"deep masking" of MaskDeep (Sec. 3.2 of the paper).

For every image and each of ``K`` groups:

1. every level keeps ``k`` random positions (the rest of the level is masked);
2. ``k`` of the ``L * k`` kept points are drawn without replacement, so each
   point's level is equally likely (``1 / L``) and no point repeats within a
   group;
3. the ``k`` point features of the group are concatenated into one
   ``k * C`` vector for the predictor.

Small levels: at 64-128 px inputs a ResNet's P5 holds only 4-16 positions, fewer
than ``k = 12``. Such a level fills its ``k`` slots with a random permutation
of its positions repeated (slot ``s`` takes ``perm[s % HW]``), which is drawing
with replacement as little as possible: a position of that level can then
occur up to ``ceil(k / HW)`` times within a group, every position at most once
more than any other. The level is still chosen with probability ``1 / L`` per
point. Levels with at least ``k`` positions never repeat a position.

Everything is vectorised over images and groups; the encoder and the pyramid
run once per view whatever ``K`` is.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor


def draw_point_indices(
        level_sizes: Sequence[int],
        batch_size: int,
        num_groups: int,
        num_points: int,
        device: torch.device = torch.device('cpu'),
        generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """Draw the levels and positions of ``K`` groups of ``k`` points per image.

    Args:
        level_sizes (Sequence[int]): ``H_l * W_l`` of each of the ``L`` levels.
        batch_size (int): ``B``, the number of images.
        num_groups (int): ``K``, groups per image.
        num_points (int): ``k``, points per group.
        device (torch.device): where the indices are drawn.
        generator (torch.Generator, optional): random source (tests, seeding).

    Returns:
        tuple[Tensor, Tensor]: ``level`` (B, K, k), the level of each point in
        ``[0, L)``, and ``position`` (B, K, k), its flattened ``h * W_l + w``
        position in that level.
    """
    if not level_sizes:
        raise ValueError('point sampling needs at least one feature level')
    if num_groups < 1 or num_points < 1:
        raise ValueError(f'num_groups ({num_groups}) and num_points '
                         f'({num_points}) must be positive')
    if min(level_sizes) < 1:
        raise ValueError(f'empty feature level in sizes {list(level_sizes)}')
    num_levels = len(level_sizes)
    shape = (batch_size, num_groups)
    slots = torch.arange(num_points, device=device)
    # (L, B, K, k): the k kept positions of every level, step 1
    kept = torch.stack([
        torch.rand(*shape, size, device=device,
                   generator=generator).argsort(-1)[..., slots % size]
        for size in level_sizes
    ])
    # (B, K, k): k of the L * k kept points without replacement, step 2
    choice = torch.rand(*shape, num_levels * num_points, device=device,
                        generator=generator).argsort(-1)[..., :num_points]
    level = choice // num_points
    position = kept.permute(1, 2, 0, 3).reshape(
        *shape, num_levels * num_points).gather(-1, choice)
    return level, position


def gather_point_groups(levels: Sequence[Tensor], level: Tensor,
                        position: Tensor) -> Tensor:
    """Gather the point features chosen by :func:`draw_point_indices`.

    Args:
        levels (Sequence[Tensor]): ``L`` feature maps (B, C, H_l, W_l), one
            channel count ``C``.
        level (Tensor): (B, K, k) level index of each point.
        position (Tensor): (B, K, k) flattened position in that level.

    Returns:
        Tensor: (B, K, k * C), each group's point features concatenated in
        draw order.
    """
    batch_size, channels = levels[0].shape[:2]
    num_groups, num_points = level.shape[1:]
    sizes = [lvl.shape[2] * lvl.shape[3] for lvl in levels]
    offsets = torch.tensor([0] + sizes[:-1], device=level.device).cumsum(0)
    # one flat index into the levels laid end to end: (B, 1, K * k)
    index = (offsets[level] + position).reshape(batch_size, 1, -1)
    flat = torch.cat([lvl.flatten(2) for lvl in levels], dim=2)
    points = flat.gather(2, index.expand(-1, channels, -1))  # (B, C, K * k)
    return points.transpose(1, 2).reshape(batch_size, num_groups,
                                          num_points * channels)


def sample_point_groups(levels: List[Tensor],
                        num_groups: int,
                        num_points: int,
                        generator: Optional[torch.Generator] = None) -> Tensor:
    """Draw and gather ``K`` groups of ``k`` points from a feature pyramid.

    Args:
        levels (list[Tensor]): ``L`` feature maps (B, C, H_l, W_l).
        num_groups (int): ``K``.
        num_points (int): ``k``.
        generator (torch.Generator, optional): random source.

    Returns:
        Tensor: (B, K, k * C) concatenated point features.
    """
    channels = {lvl.shape[1] for lvl in levels}
    if len(channels) != 1:
        raise ValueError('all levels must share one channel count to be '
                         f'grouped, got {sorted(channels)}')
    level, position = draw_point_indices(
        [lvl.shape[2] * lvl.shape[3] for lvl in levels], levels[0].shape[0],
        num_groups, num_points, levels[0].device, generator)
    return gather_point_groups(levels, level, position)
