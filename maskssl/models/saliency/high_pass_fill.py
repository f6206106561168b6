"""High-pass-filtering masking (Sec. 3.2 of
https://arxiv.org/abs/2309.12757, after MSCN): high-passed inputs, masked
pixels filled with Gaussian noise, with spatial, channel-wise and focal
masks."""
from typing import List, Optional, Union

import torch
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from .base_fill import BaseCellFill
from .fills import (cap_foreground_fraction, check_blur_fits,
                    check_odd_kernel, check_positive, check_unit_interval,
                    high_pass, scaled_window, window_mask)


@MODELS.register_module()
class HighPassFill(BaseCellFill):
    """Mask high-passed images and fill the masked pixels with noise.

    **Input transform.** :meth:`input_transform` is MSCN's high-pass filter
    ``x - GaussianBlur(x)`` (kernel ``blur_kernel_size``, std
    ``blur_sigma``, torchvision's ``gaussian_blur`` computed separably,
    with reflect padding) on normalised images. The algorithm applies it to
    *every* view, masked or not (query, key and hard negative), and the
    downstream linear probe of the model applies it too (Sec. 3.2, 4.1). It
    must be applied *before* masking: :meth:`forward` expects already
    high-passed images and does not filter them itself, so that the key view
    and its masked copy (the hard negative) share one filtered image.

    **Masking** (per image, all modes computed for the whole batch and one
    chosen per image with ``torch.where``):

    - with probability ``focal_prob``, *focal* masking, without saliency: a
      positive keeps a random ``round(focal_pos_size * H) x
      round(focal_pos_size * W)`` window (200 x 200 at 224 px) and masks
      the rest; a hard negative masks a random ``focal_neg_size``-scaled
      window (130 x 130 at 224 px). Window positions are uniform over the
      image;
    - otherwise *spatial* masking with probability ``spatial_prob`` (the
      masker's ``(B, U, V)`` cells, shared by the channels), else
      *channel-wise* masking (the masker on the foreground expanded to
      ``(B, C, U, V)``: cells re-drawn per channel with the image's ratio).

    In the spatial and channel-wise modes the masked fraction of the
    foreground is capped at ``max_fg_fraction``: in each image (each image
    and channel, channel-wise) at most ``floor(max_fg_fraction * num_fg)``
    foreground cells stay masked; if more were drawn, a uniformly random
    subset of that size is kept and the others unmasked (background cells
    untouched). With the defaults this binds only for hard negatives with
    ``beta > 0.55``. "Foreground" here is the masker's candidates
    (:meth:`SaliencyCellMasker.candidates`: the whole grid when
    ``saliency=False``). Focal masks are not capped (no saliency).

    **Fill.** Masked pixels are replaced by (not added to) Gaussian noise
    ``N(0, pos_noise_std^2)`` for positives and ``N(0, neg_noise_std^2)``
    for hard negatives, independent per pixel and channel; unmasked pixels
    are unchanged.

    Chosen where the paper is silent (it follows MSCN and the authors'
    code): ``spatial_prob`` is conditional on not focal (0.8 x 0.3 of the
    images spatial, 0.8 x 0.7 channel-wise); the cap uses ``floor``; window
    sizes scale with the input so toy inputs work.

    Args:
        masker (dict or nn.Module): The cell masker. Defaults to
            ``dict(type='SaliencyCellMasker')``.
        blur_kernel_size (int): Kernel of the high-pass filter's blur.
            Defaults to 11.
        blur_sigma (float): Its std. Defaults to 5.
        pos_noise_std (float): Noise std of positives. Defaults to 0.18.
        neg_noise_std (float): Noise std of hard negatives. Defaults to
            0.14.
        focal_prob (float): Probability of focal masking. Defaults to 0.2.
        spatial_prob (float): Probability of spatial (else channel-wise)
            masking when not focal. Defaults to 0.3.
        focal_pos_size (float): Kept window of a focal positive, as a
            fraction of the input's height and width. Defaults to 200/224.
        focal_neg_size (float): Masked window of a focal negative. Defaults
            to 130/224.
        max_fg_fraction (float): Cap on the masked fraction of the
            foreground, in ``(0, 1]``. Defaults to 0.55.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 masker: Union[dict, nn.Module] = dict(
                     type='SaliencyCellMasker'),
                 blur_kernel_size: int = 11,
                 blur_sigma: float = 5.0,
                 pos_noise_std: float = 0.18,
                 neg_noise_std: float = 0.14,
                 focal_prob: float = 0.2,
                 spatial_prob: float = 0.3,
                 focal_pos_size: float = 200 / 224,
                 focal_neg_size: float = 130 / 224,
                 max_fg_fraction: float = 0.55,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(masker, init_cfg)
        owner = type(self).__name__
        self.blur_kernel_size = check_odd_kernel(blur_kernel_size,
                                                 'blur_kernel_size', owner)
        self.blur_sigma = check_positive(blur_sigma, 'blur_sigma', owner)
        self.pos_noise_std = check_positive(pos_noise_std, 'pos_noise_std',
                                            owner)
        self.neg_noise_std = check_positive(neg_noise_std, 'neg_noise_std',
                                            owner)
        self.focal_prob = check_unit_interval(focal_prob, 'focal_prob',
                                              owner)
        self.spatial_prob = check_unit_interval(spatial_prob, 'spatial_prob',
                                                owner)
        self.focal_pos_size = check_unit_interval(
            focal_pos_size, 'focal_pos_size', owner, open_low=True)
        self.focal_neg_size = check_unit_interval(
            focal_neg_size, 'focal_neg_size', owner, open_low=True)
        self.max_fg_fraction = check_unit_interval(
            max_fg_fraction, 'max_fg_fraction', owner, open_low=True)

    def input_transform(self, imgs: Tensor) -> Tensor:
        """The high-pass filter ``x - GaussianBlur(x)`` of ``(B, C, H, W)``
        normalised images, ``(B, C, H, W)``."""
        check_blur_fits(imgs.shape[-2:], self.blur_kernel_size,
                        'blur_kernel_size', type(self).__name__)
        return high_pass(imgs, self.blur_kernel_size, self.blur_sigma)

    def sample_modes(self, batch: int, device=None,
                     generator: Optional[torch.Generator] = None):
        """Each image's masking mode.

        Returns:
            tuple[Tensor, Tensor]: ``(B,)`` bool ``focal`` and ``spatial``
            (``spatial`` matters only where not ``focal``; channel-wise
            elsewhere).
        """
        r = torch.rand(batch, 2, device=device, generator=generator)
        return r[:, 0] < self.focal_prob, r[:, 1] < self.spatial_prob

    def _capped(self, cells: Tensor, candidates: Tensor,
                generator: Optional[torch.Generator]) -> Tensor:
        return cap_foreground_fraction(cells, candidates,
                                       self.max_fg_fraction, generator)

    def sample_mask(self,
                    imgs: Tensor,
                    foreground: Tensor,
                    negative: bool = False,
                    generator: Optional[torch.Generator] = None) -> Tensor:
        """:meth:`BaseFill.sample_mask` with a mode per image (focal,
        spatial or channel-wise), all modes drawn for the whole batch and
        selected per image."""
        b, c, h, w = self._check_inputs(imgs, foreground)
        device = imgs.device
        focal, spatial = self.sample_modes(b, device, generator)
        candidates = self.masker.candidates(foreground)
        cells = self._capped(
            self.masker(foreground, negative, generator), candidates,
            generator)
        per_channel = foreground[:, None].expand(b, c, *foreground.shape[1:])
        channel_cells = self._capped(
            self.masker(per_channel, negative, generator),
            candidates[:, None].expand(per_channel.shape), generator)
        cells = torch.where(spatial[:, None, None, None], cells[:, None],
                            channel_cells)
        size = scaled_window(
            (h, w), self.focal_neg_size if negative else self.focal_pos_size)
        window = window_mask(b, (h, w), size, device, generator)
        focal_mask = window if negative else ~window
        return torch.where(focal[:, None, None, None], focal_mask[:, None],
                           self.cell_mask_pixels(imgs, cells))

    def fill(self,
             imgs: Tensor,
             mask: Tensor,
             negative: bool = False,
             generator: Optional[torch.Generator] = None) -> Tensor:
        """``(B, C, H, W)``: Gaussian noise (std ``neg_noise_std`` or
        ``pos_noise_std``) where ``mask`` (``(B, C, H, W)`` bool), ``imgs``
        elsewhere."""
        std = self.neg_noise_std if negative else self.pos_noise_std
        noise = torch.randn(imgs.shape, dtype=imgs.dtype, device=imgs.device,
                            generator=generator)
        return torch.where(mask, noise * std, imgs)
