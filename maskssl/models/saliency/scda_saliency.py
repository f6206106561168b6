"""SCDA saliency (Sec. 3.1): the foreground cells of each view from a frozen
localisation network or from the momentum encoder's last stage."""
import copy
import numbers
import os.path as osp
from typing import List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from maskssl.checkpoint.pretrained import (PretrainedLoad, check_pretrained,
                                           verify_pretrained)
from maskssl.utils.arg_checks import check_int
from .functional import SCDA_STD_FACTOR, cell_grid, scda_foreground

SOURCES = ('pretrained', 'momentum')


def _scoped(module: nn.Module, path: str) -> nn.Module:
    """A throw-away root in which ``module`` is named ``path``
    (``'saliency.network'``), so that :func:`check_pretrained` names the
    config key ``model.<path>.init_cfg.checkpoint`` of the real model."""
    root = parent = nn.Module()
    *outer, last = path.split('.')
    for part in outer:
        child = nn.Module()
        parent.add_module(part, child)
        parent = child
    parent.add_module(last, module)
    return root


def _pretrained_entries(init_cfg) -> List[dict]:
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [c for c in cfgs
            if isinstance(c, dict) and c.get('type') == 'Pretrained']


@MODELS.register_module()
class SCDASaliency(BaseModule):
    """SCDA foreground cells of a batch of views (Sec. 3.1, Eq. 1).

    The activation map ``A`` is a network's last feature map before global
    pooling (``S``, ``(B, D, U, V)``) summed over its ``D`` channels; a cell
    is foreground where ``A(u, v) >= mean(A) - std_factor * std(A)``, per
    image (:func:`~maskssl.models.saliency.functional.scda_foreground`).
    One cell covers one ``stride x stride`` patch: 7 x 7 cells of 32 x 32
    pixels for a ResNet-50 at 224 px (Sec. 3.1).

    Two sources of ``S``:

    * ``source='pretrained'`` (the paper): a separate localisation network
      ``f_xi``, an ImageNet-supervised ResNet-50 named by checkpoint in the
      config and loaded by mmengine's loader through its ``init_cfg``, as
      mmpretrain loads backbones::

          network=dict(type='ResNet', depth=50, out_indices=(3, ),
                       init_cfg=dict(type='Pretrained', checkpoint=PATH,
                                     prefix='backbone.'))

      (``prefix='backbone.'`` for an mmpretrain classifier checkpoint such
      as ``resnet50_8xb32_in1k``; a torchvision ``resnet50`` file fits
      without a prefix, its ``fc.*`` classifier being ``allow_unexpected``).
      The network is frozen: every parameter has ``requires_grad=False``,
      it runs under ``torch.no_grad()`` and stays in eval mode (BatchNorm
      uses its ImageNet statistics) even when the model calls ``.train()``.
      Its weights never change during training: DDP ignores parameters
      without ``requires_grad``; mmengine's ``DefaultOptimWrapperConstructor``
      skips them outright when the config has a ``paramwise_cfg`` (with a
      warning per parameter), and without one it passes
      ``model.parameters()`` to the optimizer, which then holds them but
      never updates them: they never receive a ``.grad`` and SGD, LARS and
      AdamW skip parameters whose ``grad`` is ``None`` (no step, no weight
      decay, no momentum state). Its tensors are part of the model's
      ``state_dict`` (checkpoints are self-contained; the transfer path
      extracts ``backbone.*`` only).

      :meth:`init_weights` checks the checkpoint before loading
      (:func:`~maskssl.checkpoint.pretrained.check_pretrained`: a missing
      file, a checkpoint of another network or an empty state dict raise an
      error naming ``model.<scope>.network.init_cfg.checkpoint``, the file
      and what was expected) and proves after loading that every tensor of
      the network equals the checkpoint's
      (:func:`~maskssl.checkpoint.pretrained.verify_pretrained`). A network
      without a ``Pretrained`` checkpoint (``init_cfg=None``, a missing or
      empty ``checkpoint``) is an error at construction unless
      ``allow_random=True``: tests and the toy demo use a random network,
      and nothing downloads weights (a URL checkpoint would be fetched by
      mmengine, as for any ``Pretrained`` init_cfg).
    * ``source='momentum'``: no network; the caller passes the momentum
      encoder's last-stage feature map of the view (the key view's momentum
      forward, reused where the view is the same).

    Input sizes that ``stride`` does not divide: a ResNet's padded stride-2
    layers round up, so its last stage is ``ceil(H / 32) x ceil(W / 32)``
    (:func:`~maskssl.models.saliency.functional.cell_grid`; 4 x 4 at 100
    px), the network's 32 px grid spanning ``32 * ceil(H / 32)`` pixels, the
    last row and column of cells partly padding.
    :func:`~maskssl.models.saliency.functional.cells_to_pixels` maps that
    grid onto the image by equal partition instead (25 x 25 pixel cells at
    100 px), so every pixel belongs to exactly one cell and every cell to
    some pixels; cell ``u`` then covers pixels from ``floor(u H / U)``
    instead of the network's ``32 u`` (21 px earlier for the last cell at
    100 px). An input smaller than one cell raises a ``ValueError`` naming
    its size.

    Args:
        source (str): ``'pretrained'`` or ``'momentum'``.
        network (dict, optional): The localisation network (mmpretrain
            ``MODELS`` config) of the pretrained source; its last output is
            ``S``. Must be ``None`` for the momentum source.
        std_factor (float): The ``0.6`` of Eq. 1 (0 gives the original
            SCDA threshold, the mean). Defaults to 0.6.
        stride (int): Pixels per cell side, the network's output stride
            (32 for a ResNet's last stage). Defaults to 32.
        allow_random (bool): Accept a pretrained-source network without a
            checkpoint (random weights: tests and toy runs only). Defaults
            to False.
        allow_unexpected (Sequence[str]): ``fnmatch`` patterns of checkpoint
            keys (after the prefix) the network does not take: the
            classifier of an ImageNet model. Defaults to ``('fc.*', )``.
        scope (str): This module's attribute path in the model, for error
            messages (``model.<scope>.network.init_cfg.checkpoint``).
            Defaults to ``'saliency'``.
        init_cfg (dict or list[dict], optional): Initialisation config of
            this module (the network has its own).
    """

    def __init__(self,
                 source: str = 'pretrained',
                 network: Optional[dict] = None,
                 std_factor: float = SCDA_STD_FACTOR,
                 stride: int = 32,
                 allow_random: bool = False,
                 allow_unexpected: Sequence[str] = ('fc.*', ),
                 scope: str = 'saliency',
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        owner = type(self).__name__
        if source not in SOURCES:
            raise ValueError(f'{owner}: model.{scope}.source={source!r}; '
                             f'expected one of {SOURCES}')
        if (not isinstance(std_factor, numbers.Real)
                or isinstance(std_factor, bool) or std_factor < 0):
            raise ValueError(
                f'{owner}: model.{scope}.std_factor={std_factor!r}; '
                'expected a non-negative number (0.6 in Eq. 1)')
        self.source = source
        self.std_factor = float(std_factor)
        self.stride = check_int(stride, f'model.{scope}.stride', owner=owner)
        self.allow_random = bool(allow_random)
        self.allow_unexpected = tuple(allow_unexpected)
        self.scope = scope
        self.network: Optional[nn.Module] = None
        if source == 'momentum':
            if network is not None:
                raise ValueError(
                    f"{owner}: model.{scope}.network is set but source="
                    "'momentum' takes the momentum encoder's features and "
                    "builds no network; remove network or use source="
                    "'pretrained'")
            return
        if not isinstance(network, dict):
            raise ValueError(
                f"{owner}: source='pretrained' needs model.{scope}.network, "
                f"got {network!r}; expected e.g. dict(type='ResNet', "
                "depth=50, out_indices=(3, ), init_cfg=dict(type="
                "'Pretrained', checkpoint=PATH, prefix='backbone.'))")
        network = copy.deepcopy(network)
        self._check_network_init_cfg(network)
        self.network = MODELS.build(network)
        self.network.requires_grad_(False)
        self.network.eval()

    @property
    def cfg_key(self) -> str:
        """The config key of the localisation network's checkpoint."""
        return f'model.{self.scope}.network.init_cfg.checkpoint'

    def _check_network_init_cfg(self, network: dict) -> None:
        """Refuse a pretrained-source network without a checkpoint unless
        ``allow_random``; with it, drop checkpoint-less ``Pretrained``
        entries (mmengine would fail on them)."""
        init_cfg = network.get('init_cfg')
        entries = _pretrained_entries(init_cfg)
        empty = [c for c in entries if not c.get('checkpoint')]
        if entries and not empty:
            return
        if not self.allow_random:
            got = (f'{self.cfg_key}={empty[0].get("checkpoint")!r}' if empty
                   else f'model.{self.scope}.network.init_cfg={init_cfg!r} '
                   'has no Pretrained entry')
            raise ValueError(
                f"{type(self).__name__}: source='pretrained' needs the "
                f'localisation network\'s weights but {got}; expected '
                "init_cfg=dict(type='Pretrained', checkpoint=PATH) naming "
                'an ImageNet-supervised ResNet-50 checkpoint (pass '
                f'--cfg-options {self.cfg_key}=PATH), or allow_random=True '
                'for a random network (tests and toy runs only)')
        if empty:
            cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [
                init_cfg]
            kept = [c for c in cfgs if not any(c is e for e in empty)]
            network['init_cfg'] = kept or None

    def init_weights(self) -> None:
        """Load the localisation network's checkpoint (mmengine's
        ``Pretrained`` init), checked before and verified after.

        Raises:
            FileNotFoundError: The checkpoint file is missing.
            ValueError: It is not a checkpoint, its state dict is empty or
                does not fit the network (missing / unexpected keys, other
                shapes).
            RuntimeError: A network tensor differs from the checkpoint after
                loading.

            Each message names ``model.<scope>.network.init_cfg.checkpoint``
            and the file.
        """
        loads: List[PretrainedLoad] = []
        if (self.network is not None and not self.is_init
                and _pretrained_entries(self.network.init_cfg)):
            loads = self._check_checkpoint()
        super().init_weights()
        if loads:
            try:
                verify_pretrained(loads)
            except RuntimeError as err:
                raise RuntimeError(f'{self.cfg_key}: {err}') from err
        if self.network is not None:
            # loading keeps requires_grad, but a model's init may not
            self.network.requires_grad_(False)
            self.network.eval()

    def _check_checkpoint(self) -> List[PretrainedLoad]:
        expected = (f'expected a checkpoint of the localisation network '
                    f'model.{self.scope}.network '
                    f'({type(self.network).__name__}'
                    + (f', depth {self.network.depth}'
                       if hasattr(self.network, 'depth') else '')
                    + '), e.g. an ImageNet-supervised classifier with '
                    "prefix='backbone.' or a torchvision file")
        owner = type(self).__name__
        checkpoint = next((c['checkpoint'] for c in _pretrained_entries(
            self.network.init_cfg)), '')
        checkpoint = str(checkpoint)
        if '://' not in checkpoint and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'{owner}: {self.cfg_key}="{checkpoint}": no such file; '
                f'{expected}')
        try:
            return check_pretrained(
                _scoped(self.network, f'{self.scope}.network'),
                allow_unexpected=self.allow_unexpected)
        except (FileNotFoundError, ValueError) as err:
            msg = str(err)
            if self.cfg_key not in msg:
                msg = f'{self.cfg_key}="{checkpoint}": {msg}'
            raise type(err)(f'{owner}: {msg}; {expected}') from err

    def train(self, mode: bool = True) -> 'SCDASaliency':
        """Set this module's mode; the localisation network stays in eval
        mode (frozen BatchNorm statistics) whatever ``mode``."""
        super().train(mode)
        if self.network is not None:
            self.network.eval()
        return self

    def _grid(self, imgs: Tensor) -> tuple:
        if imgs.dim() != 4:
            raise ValueError(
                f'{type(self).__name__}: imgs of shape {tuple(imgs.shape)}; '
                'expected (B, 3, H, W)')
        try:
            return cell_grid(tuple(imgs.shape[-2:]), self.stride)
        except ValueError as err:
            raise ValueError(
                f'{type(self).__name__}: imgs of shape '
                f'{tuple(imgs.shape)}: {err}') from err

    @torch.no_grad()
    def forward(self,
                imgs: Optional[Tensor] = None,
                features: Optional[Tensor] = None) -> Tensor:
        """Foreground cells of each image (Eq. 1), without gradient.

        Args:
            imgs (Tensor, optional): ``(B, 3, H, W)`` views, normalised as
                the network was trained (the data preprocessor's ImageNet
                mean / std), before any masking or high-pass filter.
                Required for the pretrained source; with the momentum source
                it only checks the grid of ``features``.
            features (Tensor, optional): ``(B, D, U, V)`` momentum encoder's
                last-stage map of the same views (momentum source only).

        Returns:
            Tensor: ``(B, U, V)`` bool, ``True`` = foreground; ``(U, V) =
            cell_grid((H, W), stride)`` (7 x 7 at 224 px).

        Raises:
            ValueError: A missing or extra input, an input smaller than one
                cell (naming its size), or a feature map whose grid is not
                the input's ``(ceil(H / stride), ceil(W / stride))``.
        """
        owner = type(self).__name__
        grid = self._grid(imgs) if imgs is not None else None
        if self.source == 'pretrained':
            if imgs is None or features is not None:
                raise ValueError(
                    f"{owner}: source='pretrained' computes the features "
                    'from imgs: pass imgs (B, 3, H, W) and no features')
            self.network.eval()
            out = self.network(imgs)
            features = out[-1] if isinstance(out, (tuple, list)) else out
            what = (f'model.{self.scope}.network '
                    f'({type(self.network).__name__}) output')
        else:
            if features is None:
                raise ValueError(
                    f"{owner}: source='momentum' needs features, the "
                    "momentum encoder's last-stage map (B, D, U, V)")
            what = 'features'
        if features.dim() != 4:
            raise ValueError(f'{owner}: {what} of shape '
                             f'{tuple(features.shape)}; expected (B, D, U, V)')
        if grid is not None and tuple(features.shape[-2:]) != grid:
            raise ValueError(
                f'{owner}: {what} has a {features.shape[-2]}x'
                f'{features.shape[-1]} grid for {imgs.shape[-2]}x'
                f'{imgs.shape[-1]} inputs; expected {grid[0]}x{grid[1]} '
                f'(one cell per {self.stride}x{self.stride} pixels, '
                f'model.{self.scope}.stride): the features must be the '
                f'last stage of a stride-{self.stride} network')
        return scda_foreground(features.detach(), self.std_factor)

    def extra_repr(self) -> str:
        return (f'source={self.source!r}, std_factor={self.std_factor}, '
                f'stride={self.stride}')
