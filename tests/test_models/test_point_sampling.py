"""Invariants of MaskDeep's multi-group point sampling."""
import math

import pytest
import torch

from maskssl.models.utils import (draw_point_indices, gather_point_groups,
                                  sample_point_groups)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize('sizes', [(784, 196, 49), (64, 16, 4), (49, ),
                                   (3136, 784, 196, 49)])
def test_groups_of_valid_points(sizes):
    B, K, k = 5, 16, 12
    level, pos = draw_point_indices(sizes, B, K, k, generator=_generator())
    assert level.shape == pos.shape == (B, K, k)
    assert level.min() >= 0 and level.max() < len(sizes)
    limit = torch.tensor(sizes)[level]
    assert (pos >= 0).all() and (pos < limit).all()
    # a point is (level, position): count repeats within each group
    key = level * max(sizes) + pos
    for lvl, size in enumerate(sizes):
        for group_keys, group_levels in zip(key.flatten(0, 1),
                                            level.flatten(0, 1)):
            picked = group_keys[group_levels == lvl]
            if not len(picked):
                continue
            _, counts = picked.unique(return_counts=True)
            # no repeat when the level has k positions; otherwise at most
            # ceil(k / HW) copies of a position (the documented fallback)
            assert counts.max() <= math.ceil(k / size)


def test_no_repeats_when_levels_are_large():
    sizes = (64, 16, 12)
    level, pos = draw_point_indices(sizes, 8, 16, 12, generator=_generator())
    key = (level * 100 + pos).flatten(0, 1)
    assert all(len(g.unique()) == 12 for g in key)


def test_small_level_spreads_repeats():
    """A level of 4 positions fills its 12 slots with each position 3 times:
    a group drawing all points from it holds each position 3 times."""
    level, pos = draw_point_indices((4, ), 3, 10, 12, generator=_generator())
    assert (level == 0).all()
    for group in pos.flatten(0, 1):
        assert group.bincount(minlength=4).tolist() == [3, 3, 3, 3]


def test_level_frequencies_are_uniform():
    """Each point's level is uniform over L levels: over n = 192,000 draws
    the count of a level has std sqrt(n p (1 - p)) ~ 206; allow 5 std."""
    sizes = (784, 196, 4)
    level, _ = draw_point_indices(sizes, 100, 160, 12, generator=_generator())
    counts = level.flatten().bincount(minlength=3).double()
    n, p = level.numel(), 1 / 3
    assert (counts - n * p).abs().max() < 5 * math.sqrt(n * p * (1 - p))


def test_positions_are_uniform_within_a_level():
    level, pos = draw_point_indices((16, ), 200, 50, 12, generator=_generator())
    counts = pos.flatten().bincount(minlength=16).double()
    n, p = pos.numel(), 1 / 16
    assert (counts - n * p).abs().max() < 5 * math.sqrt(n * p * (1 - p))


def test_gather_matches_indexing():
    B, C = 2, 3
    levels = [torch.randn(B, C, 4, 4), torch.randn(B, C, 2, 3)]
    level, pos = draw_point_indices((16, 6), B, 5, 4, generator=_generator())
    groups = gather_point_groups(levels, level, pos)
    assert groups.shape == (B, 5, 4 * C)
    for b in range(B):
        for g in range(5):
            expect = torch.cat([
                levels[level[b, g, j]][b].flatten(1)[:, pos[b, g, j]]
                for j in range(4)
            ])
            torch.testing.assert_close(groups[b, g], expect)


def test_sample_is_seeded_and_differentiable():
    levels = [torch.randn(2, 8, 8, 8, requires_grad=True),
              torch.randn(2, 8, 4, 4, requires_grad=True)]
    a = sample_point_groups(levels, 4, 6, generator=_generator(3))
    b = sample_point_groups(levels, 4, 6, generator=_generator(3))
    torch.testing.assert_close(a, b)
    a.sum().backward()
    # gradient reaches exactly the sampled positions
    assert 0 < (levels[0].grad != 0).sum() + (levels[1].grad != 0).sum() \
        <= 2 * 4 * 6 * 8


def test_bad_arguments():
    with pytest.raises(ValueError, match='positive'):
        draw_point_indices((16, ), 1, 0, 12)
    with pytest.raises(ValueError, match='channel'):
        sample_point_groups([torch.zeros(1, 4, 2, 2), torch.zeros(1, 8, 1, 1)],
                            2, 2)
