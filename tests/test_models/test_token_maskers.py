"""The token-masker family: one contract over every registered masker, then
each masker's defining property."""
import inspect
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import maskssl.models.maskers as maskers
from maskssl.models.maskers import (AttentionGuidedMasker, BaseTokenMasker,
                                    BlockMasker, FixedRatioMasker, GridMasker,
                                    RandomTokenMasker, require_fixed_count)
from maskssl.models.maskers.functional import (attention_guided_mask,
                                               block_mask, num_masked)

MASKERS = sorted(
    name for name in maskers.__all__
    if inspect.isclass(getattr(maskers, name))
    and issubclass(getattr(maskers, name), BaseTokenMasker)
    and not inspect.isabstract(getattr(maskers, name)))


def guidance_for(masker: BaseTokenMasker, batch_size: int, num_tokens: int,
                 seed: int = 0):
    """Random guidance of the kind ``masker`` declares."""
    g = torch.Generator().manual_seed(seed)
    if masker.guidance == 'importance':
        return torch.rand(batch_size, num_tokens, generator=g)
    if masker.guidance == 'similarity':
        sim = torch.rand(batch_size, num_tokens, num_tokens, generator=g)
        return (sim + sim.transpose(1, 2)) / 2
    return None


def draw(masker, batch_size, grid, seed, guidance=None):
    return masker(batch_size, grid, guidance=guidance,
                  generator=torch.Generator().manual_seed(seed))


def test_the_family_is_complete():
    assert {'RandomTokenMasker', 'AttentionGuidedMasker', 'FixedRatioMasker',
            'BlockMasker', 'GridMasker'} <= set(MASKERS)


@pytest.mark.parametrize('name', MASKERS)
def test_masker_contract(name):
    masker = MODELS.build(dict(type=name))
    assert isinstance(masker, BaseTokenMasker)
    batch_size, grid = 8, (8, 6)
    n = grid[0] * grid[1]
    guidance = guidance_for(masker, batch_size, n)
    mask = draw(masker, batch_size, grid, 0, guidance)
    assert mask.dtype == torch.bool and mask.shape == (batch_size, n)
    # seeded: the same generator state gives the same mask, another a
    # different one
    assert torch.equal(mask, draw(masker, batch_size, grid, 0, guidance))
    assert not torch.equal(mask, draw(masker, batch_size, grid, 1, guidance))
    if masker.fixed_count:
        counts = mask.sum(1)
        assert (counts == counts[0]).all() and 0 < counts[0] < n
    else:
        with pytest.raises(ValueError, match=name):
            require_fixed_count(masker, 'MAE')
    if masker.guidance is not None:
        with pytest.raises(ValueError, match=masker.guidance):
            draw(masker, batch_size, grid, 0, None)
        with pytest.raises(ValueError, match=r'\(8, 48'):
            draw(masker, batch_size, grid, 0,
                 guidance_for(masker, batch_size, n + 1))
    with pytest.raises(ValueError, match='grid'):
        masker(batch_size, (8, ), guidance=guidance)


def test_random_token_masker_rate_is_p():
    mask = draw(RandomTokenMasker(p=0.15), 64, (14, 14), 0)
    n = mask.numel()
    # binomial: within 4 standard deviations of p
    assert abs(mask.float().mean() - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)
    assert len(set(mask.sum(1).tolist())) > 1  # the count varies


@pytest.mark.parametrize('ratio,num_tokens,expected',
                         [(0.75, 196, 147), (0.6, 36, 22), (0.5, 49, 25),
                          (0.25, 16, 4), (0.4, 196, 79), (0.9, 10, 9),
                          (0.62, 10, 7)])
def test_fixed_ratio_counts_are_mae_and_simmim_counts(ratio, num_tokens,
                                                      expected):
    # MAE keeps int(N (1 - r)) tokens; SimMIM masks ceil(N r)
    assert num_masked(num_tokens, ratio) == expected
    assert expected == math.ceil(round(num_tokens * ratio, 9))
    mask = draw(FixedRatioMasker(ratio), 16, (1, num_tokens), 3)
    assert (mask.sum(1) == expected).all()


def test_fixed_ratio_masks_every_position_alike():
    mask = draw(FixedRatioMasker(0.75), 4000, (4, 4), 0)
    rate = mask.float().mean(0)
    assert (rate - 0.75).abs().max() < 4 * math.sqrt(0.75 * 0.25 / 4000)


def test_grid_masker_keeps_one_token_per_cell():
    mask = draw(GridMasker(cell=2), 32, (6, 8), 0).view(32, 6, 8)
    kept = (~mask).view(32, 3, 2, 4, 2).sum((2, 4))
    assert (kept == 1).all()
    # the kept offset is shared by an image's cells and varies across images
    offsets = {tuple((~mask[b, :2, :2]).nonzero()[0].tolist())
               for b in range(32)}
    assert len(offsets) == 4
    with pytest.raises(ValueError, match='cell=2'):
        GridMasker(cell=2)(1, (7, 8))


@pytest.mark.parametrize('grid,count,min_patches',
                         [((14, 14), 75, 16), ((4, 4), 6, 16),
                          ((6, 5), 12, 4), ((3, 3), 9, 4)])
def test_block_mask_count_is_exact(grid, count, min_patches):
    masker = BlockMasker(num_masking_patches=count,
                         min_num_patches=min_patches)
    mask = draw(masker, 32, grid, 0)
    assert (mask.sum(1) == count).all()


def test_block_masks_are_rectangles_and_reach_every_row_and_column():
    # area 6, aspect 2/3: every proposal is 2 x 3, so each image is one
    # such rectangle; the inclusive corner lets blocks touch the last row
    # and column (mmpretrain's port never masks them)
    masker = BlockMasker(num_masking_patches=6, min_num_patches=6,
                         min_aspect=2 / 3, max_aspect=2 / 3)
    mask = draw(masker, 400, (5, 5), 0).view(400, 5, 5)
    for m in mask[:50]:
        rows, cols = m.nonzero(as_tuple=True)
        box = m[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.shape == (2, 3) and box.all()
    assert mask[:, -1, :].any() and mask[:, :, -1].any()


def test_block_mask_completes_the_count_when_rounds_run_out():
    mask = block_mask(8, (5, 5), 10, 4, max_rounds=0,
                      generator=torch.Generator().manual_seed(0))
    assert (mask.sum(1) == 10).all()


def test_attention_guided_mask_only_touches_the_least_attended():
    b, n, num, p = 256, 64, 8, 0.3
    g = torch.Generator().manual_seed(0)
    importance = torch.rand(b, n, generator=g)
    mask = attention_guided_mask(importance, num, p, g)
    # hand computation: the candidates are the n // num lowest per image
    lowest = importance.topk(n // num, dim=1, largest=False).indices
    candidates = torch.zeros(b, n, dtype=torch.bool)
    candidates.scatter_(1, lowest, True)
    assert not (mask & ~candidates).any()
    k = b * (n // num)
    rate = mask.sum().item() / k
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / k)


def test_attention_guided_mask_with_ties_keeps_the_candidate_count():
    importance = torch.zeros(4, 50)
    importance[:, 10:] = 1.0  # 10 tied lowest, 40 tied highest
    mask = AttentionGuidedMasker(num=8, p=1.0)(4, (5, 10),
                                               guidance=importance)
    assert (mask.sum(1) == 50 // 8).all()
    assert not mask[:, 10:].any()


@pytest.mark.parametrize('cfg,key', [
    (dict(type='RandomTokenMasker', p=1.5), 'p=1.5'),
    (dict(type='RandomTokenMasker', p='0.1'), "p='0.1'"),
    (dict(type='FixedRatioMasker', mask_ratio=75), 'mask_ratio=75'),
    (dict(type='GridMasker', cell=1), 'cell=1'),
    (dict(type='AttentionGuidedMasker', num=0), 'num=0'),
    (dict(type='BlockMasker', min_aspect=0), 'min_aspect=0'),
])
def test_bad_arguments_are_named(cfg, key):
    with pytest.raises(ValueError, match=key):
        MODELS.build(cfg)


def test_block_count_larger_than_the_grid_is_named():
    with pytest.raises(ValueError, match='num_masking_patches=20'):
        BlockMasker(num_masking_patches=20)(2, (4, 4))
