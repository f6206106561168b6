"""DINO's projection head as MST's projection neck (MST Sec. 3.1, 3.3)."""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from maskssl.utils.arg_checks import check_int


@contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """Leave the running statistics of every BatchNorm in ``module`` as they
    are for the duration of the block.

    Each BN's ``track_running_stats`` is set to False and restored on exit.
    PyTorch's ``_BatchNorm.forward`` (and ``SyncBatchNorm.forward``) then, in
    train mode, normalises with the batch statistics as usual but passes no
    running buffers to ``F.batch_norm`` and skips the
    ``num_batches_tracked`` increment, so ``running_mean``, ``running_var``
    and ``num_batches_tracked`` are not written at all (bit-identical, and
    no in-place change to a tensor autograd may have saved); in eval mode it
    normalises with the running statistics exactly as without the block.
    Chosen over setting ``momentum=0`` (which still writes the buffers and
    increments the counter) and over saving and restoring the buffers.

    Args:
        module (nn.Module): the module whose BNs (itself included) to freeze.
    """
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm)]
    saved = [m.track_running_stats for m in norms]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, tracked in zip(norms, saved):
            m.track_running_stats = tracked


def normalised_prototypes(x: Tensor, weight: Tensor) -> Tensor:
    """The last layer of DINO's head: L2-normalised features against unit
    prototypes.

    ``F.linear(F.normalize(x), F.normalize(weight, dim=1))``: equal to
    ``nn.utils.weight_norm(nn.Linear(D, K, bias=False))`` with ``weight_g``
    frozen at 1 (DINO's ``norm_last_layer=True``), as the weight-norm layer
    computes ``g * v / ||v||`` per output row.

    Args:
        x (Tensor): (N, D) bottleneck features.
        weight (Tensor): (K, D) prototypes, any positive row scale.

    Returns:
        Tensor: (N, K) cosine similarities of each feature to each prototype.
    """
    return F.linear(F.normalize(x, dim=-1), F.normalize(weight, dim=1))


@MODELS.register_module()
class DINOProjectionNeck(BaseModule):
    """DINO's projection head (``DINOHead`` in DINO's vision_transformer.py).

    The projection head of MST's student and teacher (Sec. 3.1, "a projection
    head [5]", i.e. DINO's): a 3-layer MLP ``in -> hidden -> hidden ->
    bottleneck`` with GELU between the layers, the output L2-normalised,
    then a weight-normalised linear layer without bias to ``out_channels``
    prototypes (:func:`normalised_prototypes`). With ``use_bn`` a
    BatchNorm1d follows each of the two hidden linears (MST Table 6, "w/
    BN"; placed as in DINO's code with ``use_bn=True``).

    The last layer is a plain ``nn.Linear`` named ``last_layer`` whose weight
    is normalised per row in :meth:`forward`: this equals ``weight_norm``
    with ``weight_g`` frozen at 1 and keeps the module deep-copyable for the
    EMA teacher and its state-dict key ``last_layer.weight``. With
    ``norm_last_layer=False`` (DINO's ``--norm_last_layer false``) the row
    norms ``g`` are learnt: a ``(K, 1)`` parameter ``last_layer.weight_g``
    (DINO's key), initialised to 1, scales each prototype's cosine, as
    ``weight_norm`` computes ``g * v / ||v||``. ``FreezeLastLayerHook`` with
    prefix ``'neck.last_layer'`` freezes it with the weight, as DINO's
    ``cancel_gradients_last_layer`` does.

    Initialisation as DINO's code: the MLP linears get a truncated normal of
    std 0.02 and zero biases; ``last_layer`` keeps PyTorch's default
    ``nn.Linear`` init, as in DINO, where the weight-norm layer is created
    after the init pass (the row scale does not change the output, but it
    sets the effective step size of the normalised weight).

    Args:
        in_channels (int): ``C`` of the backbone's class token (384 for
            ViT-S/DeiT-S).
        out_channels (int): ``K``, number of prototypes. Defaults to 65536
            (DINO's ``out_dim``).
        hidden_channels (int): width of the two hidden layers. Defaults to
            2048.
        bottleneck_channels (int): width of the bottleneck. Defaults to 256.
        use_bn (bool): BatchNorm1d after each hidden linear. Defaults to
            False.
        norm_last_layer (bool): keep the prototypes' norms ``g`` at 1
            (DINO's default); False learns them, which DINO recommends for
            ViT-S/DeiT-S only ("removing last layer normalization (only safe
            with --arch deit_small)", DINO's README). MST is silent. Defaults
            to True.
        init_cfg (dict or list[dict], optional): initialisation config,
            applied by ``init_weights`` over the DINO init above.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 65536,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 use_bn: bool = False,
                 norm_last_layer: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        owner = type(self).__name__
        self.in_channels = check_int(in_channels, 'in_channels', owner=owner)
        self.out_channels = check_int(
            out_channels, 'out_channels', owner=owner)
        hidden = check_int(hidden_channels, 'hidden_channels', owner=owner)
        bottleneck = check_int(
            bottleneck_channels, 'bottleneck_channels', owner=owner)
        for key, flag in (('use_bn', use_bn),
                          ('norm_last_layer', norm_last_layer)):
            if not isinstance(flag, bool):
                raise ValueError(f'{owner}: {key}={flag!r} '
                                 f'({type(flag).__name__}); expected a bool')
        self.use_bn = use_bn
        self.norm_last_layer = norm_last_layer

        layers: List[nn.Module] = []
        for width_in in (self.in_channels, hidden):
            layers.append(nn.Linear(width_in, hidden))
            if use_bn:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.GELU())
        layers.append(nn.Linear(hidden, bottleneck))
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = nn.Linear(bottleneck, self.out_channels, bias=False)
        if not norm_last_layer:
            self.last_layer.weight_g = nn.Parameter(
                torch.ones(self.out_channels, 1))

    def forward(self,
                x: Union[Sequence[Tensor], Tensor],
                update_bn_stats: bool = True) -> Tensor:
        """Project class tokens to ``K`` prototype scores.

        Args:
            x (tuple[Tensor] or Tensor): backbone outputs as mmpretrain necks
                receive them, the last one taken: ``(B, C)``, the class
                token of a backbone with ``out_type='cls_token'``; or that
                tensor itself.
            update_bn_stats (bool): whether the BNs' running statistics take
                this batch into account. MST Sec. 3.3 / App. C update them
                from the global views only: pass False for the local crops.
                False still normalises with the batch statistics in train
                mode (see :func:`frozen_bn_stats`). Defaults to True.

        Returns:
            Tensor: (B, K) scores, the logits of DINO's loss: cosines, each
            times its prototype's ``g`` where ``norm_last_layer=False``.
        """
        if not isinstance(x, Tensor):
            x = x[-1]
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects class tokens of shape '
                f'(B, {self.in_channels}) (neck.in_channels) but got '
                f'{tuple(x.shape)}: use a backbone with '
                "out_type='cls_token' and set in_channels to its width")
        if update_bn_stats:
            feats = self.mlp(x)
        else:
            with frozen_bn_stats(self.mlp):
                feats = self.mlp(x)
        scores = normalised_prototypes(feats, self.last_layer.weight)
        if self.norm_last_layer:
            return scores
        return scores * self.last_layer.weight_g.t()
