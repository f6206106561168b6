"""Saliency-guided cell masks and the three fill strategies (issue 11; Sec.
3.2 of the saliency-guided masking paper): exact cell counts, the
ablations, exactly-the-masked-pixels fills, focal windows, the foreground
cap, and batched = per-image."""
import math
import re

import pytest
import torch
from mmpretrain.registry import MODELS
from torchvision.transforms.v2.functional import gaussian_blur

from maskssl.models.saliency import (BlurFill, HighPassFill, MeanFill,
                                     SaliencyCellMasker)
from maskssl.models.saliency.fills import blur, cap_foreground_fraction
from maskssl.models.saliency.functional import (cells_to_pixels,
                                                uniform_ratio)

U = V = 7
N = U * V
CELL = 8  # pixels per cell side in the fill tests: 56 x 56 images


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _foreground(num_fg, seed: int = 1) -> torch.Tensor:
    """``(B, U, V)`` bool grids with ``num_fg[b]`` random foreground
    cells."""
    num_fg = torch.as_tensor(num_fg)
    scores = torch.rand(len(num_fg), N, generator=_gen(seed))
    ranks = scores.argsort(1).argsort(1)
    return (ranks < num_fg[:, None]).reshape(-1, U, V)


def _all_fg_counts(batch: int) -> torch.Tensor:
    """Every gamma from 0 (no foreground) to 1 (all foreground)."""
    return torch.arange(batch) % (N + 1)


def _split(mask, fg):
    """Masked foreground and background cells per row."""
    m, f = mask.flatten(-2), fg.flatten(-2)
    return (m & f).sum(-1), (m & ~f).sum(-1)


def _ratios(masker, batch, negative, seed):
    """The ratios the masker draws first from a generator seeded ``seed``;
    a fixed ratio as configured (0.15 * 30 = 4.5 rounds to even, 4, where
    float32's 0.15 would give 4.5000002)."""
    low, high = masker.beta if negative else masker.alpha
    if low == high:
        return [low] * batch
    return uniform_ratio(batch, low, high, generator=_gen(seed)).tolist()


# --------------------------------------------------------------- counts


def _expected_positive(a: float, nf: int):
    """Sec. 3.2 by hand: round(alpha gamma N) foreground cells, int(alpha N)
    minus that background cells, within what each region holds."""
    fg = min(round(a * nf), nf)
    bg = min(max(int(a * N) - fg, 0), N - nf)
    return fg, bg


def test_worked_example():
    """N = 49, num_fg = 20, alpha = 0.2: int(9.8) = 9 cells, round(4.0) = 4
    foreground, 5 background, every cell of either region used over 200
    draws."""
    masker = SaliencyCellMasker(alpha=(0.2, 0.2))
    fg = _foreground([20] * 200)
    fg[:] = fg[0]  # one grid, many draws
    mask = masker(fg, generator=_gen())
    n_fg, n_bg = _split(mask, fg)
    assert n_fg.tolist() == [4] * 200 and n_bg.tolist() == [5] * 200
    hits = mask.sum(0)
    # each foreground cell is masked with p = 4/20 (40 of 200 expected),
    # each background cell with p = 5/29 (34.5)
    assert (hits[fg[0]] > 15).all() and (hits[fg[0]] < 70).all()
    assert (hits[~fg[0]] > 12).all() and (hits[~fg[0]] < 65).all()


@pytest.mark.parametrize('alpha', [(0.05, 0.25), (0.15, 0.15)])
def test_positive_counts_over_many_draws(alpha):
    batch = 200
    masker = SaliencyCellMasker(alpha=alpha)
    fg = _foreground(_all_fg_counts(batch))
    mask = masker(fg, generator=_gen(3))
    n_fg, n_bg = _split(mask, fg)
    for b, a in enumerate(_ratios(masker, batch, False, 3)):
        nf = int(fg[b].sum())
        assert (n_fg[b], n_bg[b]) == _expected_positive(a, nf), (b, a, nf)


def test_negative_counts_over_many_draws():
    batch = 200
    masker = SaliencyCellMasker()
    fg = _foreground(_all_fg_counts(batch))
    mask = masker(fg, negative=True, generator=_gen(4))
    n_fg, n_bg = _split(mask, fg)
    assert (n_bg == 0).all()  # only foreground cells
    expected = [round(b * int(f.sum()))
                for b, f in zip(_ratios(masker, batch, True, 4), fg)]
    assert n_fg.tolist() == expected


def test_gamma_edge_cases():
    masker = SaliencyCellMasker(alpha=(0.2, 0.2), beta=(0.5, 0.5))
    none = torch.zeros(50, U, V, dtype=torch.bool)
    every = torch.ones(50, U, V, dtype=torch.bool)
    # gamma = 0: all int(9.8) = 9 masked cells are background
    assert (masker(none, generator=_gen()).flatten(1).sum(1) == 9).all()
    # ... and a hard negative has no foreground to mask
    assert not masker(none, negative=True, generator=_gen()).any()
    # gamma = 1: round(9.8) = 10 foreground cells, none of background
    assert (masker(every, generator=_gen()).flatten(1).sum(1) == 10).all()
    # torch.round rounds half to even: round(0.5 * 49) = 24
    neg = masker(every, negative=True, generator=_gen())
    assert (neg.flatten(1).sum(1) == 24).all()


def test_channel_grid_masks_channels_independently():
    batch, channels = 40, 3
    masker = SaliencyCellMasker()
    fg = _foreground(_all_fg_counts(batch))
    grid = fg[:, None].expand(batch, channels, U, V)
    for negative in (False, True):
        mask = masker(grid, negative=negative, generator=_gen(5))
        assert mask.shape == grid.shape
        n_fg, n_bg = _split(mask, grid)
        # one ratio per image, shared by its channels
        assert (n_fg == n_fg[:, :1]).all() and (n_bg == n_bg[:, :1]).all()
        for b, r in enumerate(_ratios(masker, batch, negative, 5)):
            nf = int(fg[b].sum())
            want = (round(r * nf), 0) if negative else _expected_positive(
                r, nf)
            assert (n_fg[b, 0], n_bg[b, 0]) == want
        # cells are re-drawn per channel
        assert (mask[:, 0] != mask[:, 1]).flatten(1).any(1).sum() > batch / 2


def test_without_saliency_every_cell_is_a_candidate():
    batch = 200
    masker = SaliencyCellMasker(saliency=False)
    fg = _foreground(_all_fg_counts(batch))
    other = _foreground(_all_fg_counts(batch).flip(0), seed=7)
    for negative, count in ((False, lambda r: int(r * N)),
                            (True, lambda r: round(r * N))):
        mask = masker(fg, negative, generator=_gen(6))
        want = [count(r) for r in _ratios(masker, batch, negative, 6)]
        assert mask.flatten(1).sum(1).tolist() == want
        # the foreground plays no part
        assert torch.equal(mask, masker(other, negative, generator=_gen(6)))
        # so hard negatives mask background cells too
        assert _split(mask, fg)[1].sum() > 0
    assert torch.equal(masker.candidates(fg), torch.ones_like(fg))


def test_salient_cells_only():
    batch = 200
    masker = SaliencyCellMasker(mask_non_salient=False)
    fg = _foreground(_all_fg_counts(batch))
    mask = masker(fg, generator=_gen(8))
    n_fg, n_bg = _split(mask, fg)
    assert (n_bg == 0).all()
    want = [min(int(a * N), int(f.sum()))
            for a, f in zip(_ratios(masker, batch, False, 8), fg)]
    assert n_fg.tolist() == want
    # hard negatives are those of the default masker
    default = SaliencyCellMasker()
    assert torch.equal(masker(fg, True, generator=_gen(9)),
                       default(fg, True, generator=_gen(9)))


@pytest.mark.parametrize('name', ['alpha', 'beta'])
@pytest.mark.parametrize('value', [(0, 0.2), (0.3, 0.2), (0.1, 1.0),
                                   (-0.1, 0.5), 0.15, (0.1, ), 'ab',
                                   (True, 0.5), (0.1, 0.2, 0.3)])
def test_bad_ratio_ranges_name_the_argument(name, value):
    with pytest.raises(ValueError, match=re.escape(f'{name}={value!r}')):
        SaliencyCellMasker(**{name: value})


def test_other_masker_errors():
    with pytest.raises(ValueError, match='mask_non_salient=False needs'):
        SaliencyCellMasker(saliency=False, mask_non_salient=False)
    with pytest.raises(ValueError, match='saliency=1'):
        SaliencyCellMasker(saliency=1)
    with pytest.raises(ValueError, match='expected a bool'):
        SaliencyCellMasker()(torch.zeros(2, U, V))
    assert SaliencyCellMasker(alpha=[0.1, 0.2]).alpha == (0.1, 0.2)


def test_masker_reproducible_from_generator():
    masker = SaliencyCellMasker()
    fg = _foreground(_all_fg_counts(64))
    a = masker(fg, generator=_gen(10))
    torch.manual_seed(123)  # the global RNG plays no part
    assert torch.equal(a, masker(fg, generator=_gen(10)))
    assert not torch.equal(a, masker(fg, generator=_gen(11)))
    assert masker(fg).shape == fg.shape  # no generator: global RNG


# ---------------------------------------------------------------- fills


def _images(batch: int, dtype=torch.float32, size=(56, 56), seed=12):
    return torch.randn(batch, 3, *size, generator=_gen(seed), dtype=dtype)


def _fill_inputs(batch, dtype=torch.float32, size=(56, 56)):
    fg = _foreground(torch.arange(batch) % (N - 4) + 2)
    return _images(batch, dtype, size), fg


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('negative', [False, True])
def test_blur_fill_takes_the_blurred_copy(dtype, negative):
    fill = BlurFill()
    imgs, fg = _fill_inputs(8, dtype)
    before = imgs.clone()
    out = fill(imgs, fg, negative, generator=_gen(13))
    assert out.dtype == dtype and out.shape == imgs.shape
    assert torch.equal(imgs, before)  # a masked copy
    cells = fill.masker(fg, negative, generator=_gen(13))
    mask = cells_to_pixels(cells, (56, 56))[:, None].expand(imgs.shape)
    assert torch.equal(mask, fill.sample_mask(imgs, fg, negative, _gen(13)))
    assert mask.any() and (~mask).any()
    blurred = blur(imgs, 31, 10.0)
    assert torch.equal(out[mask], blurred[mask])
    assert torch.equal(out[~mask], imgs[~mask])
    assert (out[mask] != imgs[mask]).float().mean() > 0.99


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_mean_fill_takes_the_channel_mean(dtype):
    fill = MeanFill()
    imgs, fg = _fill_inputs(8, dtype)
    imgs = imgs + torch.arange(3, dtype=dtype)[:, None, None]  # distinct
    before = imgs.clone()
    out = fill(imgs, fg, generator=_gen(14))
    assert torch.equal(imgs, before)
    mask = fill.sample_mask(imgs, fg, generator=_gen(14))
    assert mask.any() and (~mask).any()
    means = imgs.mean((2, 3), keepdim=True).expand(imgs.shape)
    assert torch.equal(out[mask], means[mask])
    assert torch.equal(out[~mask], imgs[~mask])


@pytest.mark.parametrize('dtype,atol', [(torch.float32, 1e-5),
                                         (torch.float64, 1e-12)])
@pytest.mark.parametrize('kernel,sigma', [(31, 10.0), (11, 5.0), (5, 0.8)])
def test_separable_blur_equals_torchvision(dtype, atol, kernel, sigma):
    """The two 1-D passes give torchvision's 2-D Gaussian blur."""
    imgs = torch.randn(2, 3, 40, 36, dtype=dtype,
                       generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(
        blur(imgs, kernel, sigma),
        gaussian_blur(imgs, [kernel, kernel], [sigma, sigma]), atol=atol,
        rtol=0)


def test_input_transforms():
    imgs = _images(4)
    assert BlurFill().input_transform(imgs) is imgs
    assert MeanFill().input_transform(imgs) is imgs
    high = HighPassFill().input_transform(imgs)
    torch.testing.assert_close(
        high, imgs - gaussian_blur(imgs, [11, 11], [5.0, 5.0]), atol=1e-5,
        rtol=0)
    # a constant image has no high frequencies
    flat = torch.full((1, 3, 32, 32), 0.7)
    assert HighPassFill().input_transform(flat).abs().max() < 1e-5


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('negative,std', [(False, 0.18), (True, 0.14)])
def test_high_pass_noise_fills_exactly_the_mask(dtype, negative, std):
    fill = HighPassFill()
    imgs, fg = _fill_inputs(64, dtype)
    imgs = fill.input_transform(imgs)
    before = imgs.clone()
    out = fill(imgs, fg, negative, generator=_gen(15))
    assert out.dtype == dtype and torch.equal(imgs, before)
    mask = fill.sample_mask(imgs, fg, negative, generator=_gen(15))
    assert torch.equal(out[~mask], imgs[~mask])
    noise = out[mask].double()
    assert noise.numel() > 20000
    assert noise.mean().abs() < 0.02
    assert abs(noise.std().item() / std - 1) < 0.05


def _modes(fill, batch, seed):
    """The modes forward draws first from a generator seeded ``seed``."""
    return fill.sample_modes(batch, generator=_gen(seed))


def test_high_pass_mode_probabilities():
    focal, spatial = _modes(HighPassFill(), 20000, 16)
    assert abs(focal.float().mean() - 0.2) < 0.015
    assert abs(spatial.float().mean() - 0.3) < 0.015
    focal, _ = _modes(HighPassFill(focal_prob=0.0), 1000, 16)
    assert not focal.any()


@pytest.mark.parametrize('size', [(64, 64), (64, 96), (224, 224)])
@pytest.mark.parametrize('negative', [False, True])
def test_focal_windows_scale_with_the_input(size, negative):
    batch = 200 if size != (224, 224) else 8
    fill = HighPassFill(focal_prob=1.0)
    imgs = torch.zeros(batch, 3, *size)
    fg = torch.zeros(batch, U, V, dtype=torch.bool)
    mask = fill.sample_mask(imgs, fg, negative, generator=_gen(17))
    assert (mask == mask[:, :1]).all()  # no channel-wise focal masks
    window = mask[:, 0] if negative else ~mask[:, 0]
    frac = 130 / 224 if negative else 200 / 224
    h, w = (round(frac * s) for s in size)
    if size == (224, 224):
        assert (h, w) == ((130, 130) if negative else (200, 200))
    rows, cols = window.any(2), window.any(1)
    assert (rows.sum(1) == h).all() and (cols.sum(1) == w).all()
    # the window is the rectangle rows x cols, in one piece
    assert torch.equal(window, rows[:, :, None] & cols[:, None, :])
    tops = rows.float().argmax(1)
    ys = torch.arange(size[0])
    assert torch.equal(rows, (ys >= tops[:, None]) & (ys < tops[:, None] + h))
    if batch == 200:  # every position of the window is drawn
        assert set(tops.tolist()) == set(range(size[0] - h + 1))


def _cells(mask):
    """Pixel masks of 8 x 8 cells back to ``(B, C, U, V)`` cells."""
    return mask[:, :, ::CELL, ::CELL]


@pytest.mark.parametrize('spatial_prob', [1.0, 0.0])
def test_high_pass_foreground_cap(spatial_prob):
    batch = 200
    fill = HighPassFill(focal_prob=0.0, spatial_prob=spatial_prob,
                        masker=dict(type='SaliencyCellMasker',
                                    alpha=(0.6, 0.6), beta=(0.69, 0.69)))
    imgs = torch.zeros(batch, 3, 56, 56)
    fg = _foreground(_all_fg_counts(batch))
    grid = fg[:, None].expand(batch, 3, U, V)
    nf = fg.flatten(1).sum(1)
    cap = [math.floor(0.55 * n) for n in nf.tolist()]
    for negative in (False, True):
        cells = _cells(fill.sample_mask(imgs, fg, negative, _gen(18)))
        same = (cells == cells[:, :1]).all()
        assert bool(same) == (spatial_prob == 1.0)
        n_fg, n_bg = _split(cells, grid)
        for b, n in enumerate(nf.tolist()):
            if negative:
                want_fg, want_bg = round(0.69 * n), 0
            else:
                want_fg, want_bg = _expected_positive(0.6, n)
            # foreground capped; background untouched by the cap
            assert (n_fg[b] == min(want_fg, cap[b])).all(), (b, n)
            assert (n_bg[b] == want_bg).all()
    # the defaults (alpha <= 0.25) never reach the cap
    default = HighPassFill(focal_prob=0.0, spatial_prob=1.0)
    ref = SaliencyCellMasker()
    g = _gen(19)
    default.sample_modes(batch, generator=g)
    want = ref(fg, generator=g)
    cells = _cells(default.sample_mask(imgs, fg, generator=_gen(19)))
    assert torch.equal(cells[:, 0], want)


def test_cap_keeps_a_random_subset():
    fg = torch.ones(500, U, V, dtype=torch.bool)
    capped = cap_foreground_fraction(fg, fg, 0.55, _gen(20))
    assert (capped.flatten(1).sum(1) == 26).all()  # floor(26.95)
    hits = capped.float().mean(0)
    assert (hits > 0.4).all() and (hits < 0.7).all()  # ~26 / 49 each
    assert torch.equal(cap_foreground_fraction(fg, fg, 1.0, _gen(20)), fg)


def test_high_pass_without_saliency_caps_the_whole_grid():
    fill = HighPassFill(focal_prob=0.0, spatial_prob=1.0,
                        masker=dict(type='SaliencyCellMasker',
                                    saliency=False, beta=(0.69, 0.69)))
    fg = _foreground(_all_fg_counts(50))
    cells = _cells(fill.sample_mask(torch.zeros(50, 3, 56, 56), fg, True,
                                    _gen(21)))
    # round(0.69 * 49) = 34 cells capped at floor(0.55 * 49) = 26
    assert (cells.flatten(1).sum(1) == 3 * 26).all()


# ------------------------------------------------ batched = per image


class _Recorder:
    """Record the random draws of a batched call, then serve image ``b``'s
    share of each draw to a call on image ``b`` alone. Every draw of the
    masking code has the batch as its outermost axis, so image ``b``'s share
    is ``draw.reshape(B, -1)[b]``."""

    def __init__(self, monkeypatch, batch):
        self.monkeypatch, self.batch = monkeypatch, batch
        self.draws = []
        self.real = {'rand': torch.rand, 'randn': torch.randn}
        monkeypatch.setattr(torch, 'randint', None)  # not used by masking

    def record(self):
        def wrap(kind):
            def draw(*size, **kwargs):
                out = self.real[kind](*size, **kwargs)
                self.draws.append((kind, out))
                return out
            return draw

        for kind in self.real:
            self.monkeypatch.setattr(torch, kind, wrap(kind))

    def replay(self, b):
        queue = list(self.draws)

        def serve(kind):
            def draw(*size, **kwargs):
                shape = torch.Size(size[0] if len(size) == 1 and not
                                   isinstance(size[0], int) else size)
                got, out = queue.pop(0)
                assert got == kind and out.numel() == self.batch * (
                    shape.numel())
                return out.reshape(self.batch, -1)[b].reshape(shape)
            return draw

        for kind in self.real:
            self.monkeypatch.setattr(torch, kind, serve(kind))
        return queue


def _batched_and_per_image(monkeypatch, call, batch):
    rec = _Recorder(monkeypatch, batch)
    rec.record()
    batched = call(slice(None))
    singles = []
    for b in range(batch):
        queue = rec.replay(b)
        singles.append(call(slice(b, b + 1)))
        assert not queue  # every draw used
    return batched, torch.cat(singles)


@pytest.mark.parametrize('negative', [False, True])
@pytest.mark.parametrize('kwargs', [{}, {'saliency': False},
                                    {'mask_non_salient': False}])
@pytest.mark.parametrize('channels', [None, 3])
def test_masker_batched_equals_per_image(monkeypatch, negative, kwargs,
                                         channels):
    batch = 12
    masker = SaliencyCellMasker(**kwargs)
    fg = _foreground(_all_fg_counts(batch) * 4)
    if channels:
        fg = fg[:, None].expand(batch, channels, U, V)
    batched, single = _batched_and_per_image(
        monkeypatch, lambda s: masker(fg[s], negative, _gen(22)), batch)
    assert torch.equal(batched, single)
    assert batched.any()


@pytest.mark.parametrize('fill', [
    BlurFill(), MeanFill(),
    HighPassFill(focal_prob=0.3, spatial_prob=0.5),
    HighPassFill(focal_prob=0.3, spatial_prob=0.5,
                 masker=dict(type='SaliencyCellMasker', saliency=False)),
])
@pytest.mark.parametrize('negative', [False, True])
def test_fill_batched_equals_per_image(monkeypatch, fill, negative):
    batch = 16
    imgs, fg = _fill_inputs(batch)
    imgs = fill.input_transform(imgs)
    if isinstance(fill, HighPassFill):
        focal, spatial = _modes(fill, batch, 23)
        assert focal.any() and (~focal & spatial).any() and (
            ~focal & ~spatial).any()  # every mode in the batch
    batched, single = _batched_and_per_image(
        monkeypatch, lambda s: fill(imgs[s], fg[s], negative, _gen(23)),
        batch)
    # convolutions may sum in another order for one image than for many
    assert torch.allclose(batched, single, atol=1e-6, rtol=0)
    assert not torch.allclose(batched, imgs)


# ---------------------------------------------------- configs and errors


def test_built_from_configs():
    fill = MODELS.build(dict(
        type='HighPassFill', focal_prob=0.1,
        masker=dict(type='SaliencyCellMasker', alpha=(0.15, 0.15))))
    assert isinstance(fill, HighPassFill) and fill.focal_prob == 0.1
    assert fill.masker.alpha == (0.15, 0.15)
    assert isinstance(MODELS.build(dict(type='BlurFill')).masker,
                      SaliencyCellMasker)
    assert isinstance(MODELS.build(dict(type='MeanFill')), MeanFill)


def test_fills_reproducible_from_generator():
    imgs, fg = _fill_inputs(8)
    for fill in (BlurFill(), MeanFill(), HighPassFill()):
        a = fill(imgs, fg, generator=_gen(24))
        torch.manual_seed(0)
        assert torch.equal(a, fill(imgs, fg, generator=_gen(24)))
        assert not torch.equal(a, fill(imgs, fg, generator=_gen(25)))


@pytest.mark.parametrize('cls,kwargs,match', [
    (BlurFill, dict(kernel_size=30), 'kernel_size=30'),
    (BlurFill, dict(sigma=0), 'sigma=0'),
    (HighPassFill, dict(blur_kernel_size=-1), 'blur_kernel_size=-1'),
    (HighPassFill, dict(pos_noise_std=0.0), 'pos_noise_std=0.0'),
    (HighPassFill, dict(focal_prob=1.5), 'focal_prob=1.5'),
    (HighPassFill, dict(spatial_prob='0.3'), "spatial_prob='0.3'"),
    (HighPassFill, dict(focal_pos_size=0), 'focal_pos_size=0'),
    (HighPassFill, dict(max_fg_fraction=0.0), 'max_fg_fraction=0.0'),
    (HighPassFill, dict(masker=dict(type='SaliencyCellMasker',
                                    beta=(0.7, 0.4))), r'beta=\(0.7, 0.4\)'),
])
def test_bad_fill_arguments_are_named(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_bad_fill_inputs_are_named():
    imgs, fg = _fill_inputs(4)
    with pytest.raises(ValueError, match='expected a bool'):
        MeanFill()(imgs, fg[:3])
    with pytest.raises(ValueError, match='expected float'):
        MeanFill()(imgs[0], fg)
    small = torch.zeros(2, 3, 12, 12)
    small_fg = torch.ones(2, 1, 1, dtype=torch.bool)
    with pytest.raises(ValueError, match='kernel_size=31 is too large'):
        BlurFill()(small, small_fg)
    with pytest.raises(ValueError, match='blur_kernel_size=11'):
        HighPassFill().input_transform(torch.zeros(1, 3, 4, 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_fills_on_cuda():
    imgs, fg = _fill_inputs(8)
    imgs, fg = imgs.cuda(), fg.cuda()
    for fill in (BlurFill(), MeanFill(), HighPassFill()):
        g = torch.Generator('cuda').manual_seed(0)
        out = fill(fill.input_transform(imgs), fg, True, generator=g)
        assert out.device == imgs.device and out.shape == imgs.shape
