"""Maps of MaskDeep's hierarchical representation space (Sec. 7, Fig. 4):
per-level Grad-CAM of the local-global cosine loss and clustering maps."""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from maskssl.models.utils import sample_point_groups


def grad_cam(feature: Tensor, grad: Tensor) -> Tensor:
    """Grad-CAM (Selvaraju et al.) of one feature map.

    Args:
        feature (Tensor): (C, H, W) activations of a level.
        grad (Tensor): (C, H, W) gradient of the score to maximise with
            respect to ``feature``.

    Returns:
        Tensor: (H, W) map in [0, 1]: ``ReLU(sum_c w_c feature_c)`` with
        ``w_c`` the spatial mean of ``grad_c``, divided by its maximum (all
        zeros when nothing is positive).
    """
    weights = grad.mean(dim=(1, 2))
    cam = F.relu(torch.einsum('c,chw->hw', weights, feature))
    peak = cam.max()
    return cam / peak if peak > 0 else cam


def cluster_map(feature: Tensor, num_clusters: int = 5,
                generator: Optional[torch.Generator] = None) -> Tensor:
    """Clustering map of one level (Sec. 7): ``num_clusters`` random point
    features are the initial features, and every point joins the one it is
    most cosine-similar to.

    Args:
        feature (Tensor): (C, H, W) activations.
        num_clusters (int): number of initial features. Defaults to 5.
        generator (torch.Generator, optional): random source.

    Returns:
        Tensor: (H, W) cluster index of every point, in ``[0, num_clusters)``.
    """
    channels, height, width = feature.shape
    points = F.normalize(feature.reshape(channels, -1).t(), dim=1)
    count = min(num_clusters, len(points))
    seeds = torch.randperm(len(points), generator=generator)[:count]
    return (points @ points[seeds].t()).argmax(1).reshape(height, width)


def maskdeep_level_maps(model: torch.nn.Module,
                        img: Tensor,
                        num_clusters: int = 5,
                        generator: Optional[torch.Generator] = None
                        ) -> List[Tuple[Tensor, Tensor]]:
    """Grad-CAM and clustering map of every level for one image.

    As in Sec. 7, the image is only resized; one group of the online view is
    predicted (``q(H^1)``) and aligned with the momentum encoder's global
    target of the same image (``G^2``) by cosine similarity, whose gradient
    at each level weights that level's output.

    Args:
        model (nn.Module): a MaskDeep model, in eval mode (BN statistics of
            one group are meaningless).
        img (Tensor): (1, 3, H, W) normalised image.
        num_clusters (int): initial features of the clustering map.
        generator (torch.Generator, optional): random source of the group
            and the initial features.

    Returns:
        list[tuple[Tensor, Tensor]]: per level, finest first, the (H_l, W_l)
        Grad-CAM in [0, 1] and the (H_l, W_l) cluster indices.
    """
    levels = model.neck.forward_levels(model.backbone(img))
    group = sample_point_groups(levels, 1, model.neck.num_points, generator)
    local = model.head.predict_groups(group)[0, 0]
    with torch.no_grad():
        target = model.momentum_targets([img])[0, 0]
    similarity = F.cosine_similarity(local, target, dim=0)
    grads = torch.autograd.grad(similarity, levels)
    return [(grad_cam(lvl[0].detach(), g[0]),
             cluster_map(lvl[0].detach(), num_clusters, generator))
            for lvl, g in zip(levels, grads)]
