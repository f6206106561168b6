"""Evolved Hierarchical Masking's tree and masks (EHM Sec. IV-A, IV-B), as
batched pure functions.

:func:`build_hierarchy` builds, for every image at once, the binary tree of
Adaptive Hierarchy Establishment (Sec. IV-A): bottom-up average-linkage
agglomeration of the ``N`` patches by their similarity (Eqs. 6-13).
:func:`masking_depth`, :func:`parts_at_depth` and :func:`evolved_mask` are
Evolved Mask Generation (Sec. IV-B, Eqs. 14-17): cut the tree at a depth
that grows with training, take the parts in random order until the mask
ratio is covered, truncating the last one.

Node ids follow SciPy's ``linkage``: leaves are ``0 .. N-1`` (the patches
in raster order), the node made by merge ``t`` is ``N + t``, so the root is
``2N - 2``. Levels count from the leaves (level 0) up (Eq. 10).
"""
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .functional import _uniform


class Hierarchy(NamedTuple):
    """A batch of binary trees over ``N`` leaves (``M = 2N - 1`` nodes).

    Attributes:
        children (Tensor): ``(B, N-1, 2)`` long, the two nodes merged by
            each merge, in merge order, the lower id first (SciPy's
            ``linkage`` rows).
        merge_similarity (Tensor): ``(B, N-1)`` the average-linkage
            similarity of the two merged nodes (Eq. 7); non-increasing in
            ``t`` (average linkage has no inversions).
        size (Tensor): ``(B, M)`` long, leaves under each node.
        level (Tensor): ``(B, M)`` long, 0 at the leaves, else one more than
            the deeper child's (Eq. 10).
        parent (Tensor): ``(B, M)`` long, each node's parent; -1 at the
            root.
        start (Tensor): ``(B, M)`` long: in the dendrogram's leaf order
            (children left to right as in :attr:`children`) the leaves under
            a node occupy the positions ``[start, start + size)``.
        height (Tensor): ``(B,)`` long, the root's level.
    """
    children: Tensor
    merge_similarity: Tensor
    size: Tensor
    level: Tensor
    parent: Tensor
    start: Tensor
    height: Tensor


def symmetric_similarity(attention: Tensor) -> Tensor:
    """EHM Eq. 6: the leaf similarity ``(A + A^T) / 2`` of a ``(B, N, N)``
    patch-to-patch attention (averaged over heads and blocks by the host).
    A symmetric input is returned unchanged (``(s + s) / 2 == s``)."""
    return (attention + attention.transpose(1, 2)) / 2


def build_hierarchy(similarity: Tensor) -> Hierarchy:
    """Adaptive Hierarchy Establishment (EHM Sec. IV-A), batched.

    Starting from the ``N`` leaves (Eq. 8), each of the ``N - 1`` merges
    joins the two most similar current nodes into a parent (Eq. 9), whose
    level is one more than its deeper child's (Eq. 10), and replaces them
    (Eqs. 11-13). The similarity of two nodes is the average over their
    pairs of descendant leaves (Eq. 7, average linkage), kept in the stored
    matrix by the Lance-Williams update
    ``s(k, i+j) = (n_i s(k, i) + n_j s(k, j)) / (n_i + n_j)`` instead of
    being recomputed, as Sec. IV-A says. This is SciPy's
    ``linkage(method='average')`` on the distances ``c - s``.

    One tensor program for the whole batch; the only loop is over the
    merges. Each merge costs ``O(B N)``, plus ``O(N)`` per row whose
    maximum it removed: the running maximum of every row and its column are
    kept, and a merge only lowers the column it rewrites (an average of two
    entries of a row is at most the row's maximum), so only the rows whose
    maximum sat in the two merged columns are reduced again.

    Ties: the node in slot ``i`` holds the cluster whose smallest leaf is
    ``i``; among equally similar pairs the one of lowest ``(i, j)``,
    ``i < j``, in lexicographic order (the lowest flat index of the
    matrix) is merged. SciPy's nearest-neighbour chain may resolve ties
    otherwise.

    Args:
        similarity (Tensor): ``(B, N, N)`` float leaf similarity, e.g.
            attention between patches; symmetrised here
            (:func:`symmetric_similarity`, Eq. 6) and detached. Computed in
            its dtype, at least float32.

    Returns:
        Hierarchy: the trees.

    Raises:
        ValueError: if ``similarity`` is not a finite float ``(B, N, N)``.
    """
    if (not isinstance(similarity, Tensor) or similarity.dim() != 3
            or similarity.shape[1] != similarity.shape[2]
            or similarity.shape[1] < 1 or not similarity.is_floating_point()):
        got = (tuple(similarity.shape) if isinstance(similarity, Tensor) else
               type(similarity).__name__)
        raise ValueError(f'build_hierarchy: similarity {got}; expected a '
                         f'float tensor of shape (B, N, N)')
    if not bool(torch.isfinite(similarity).all()):
        raise ValueError('build_hierarchy: similarity has non-finite values')
    dtype = torch.promote_types(similarity.dtype, torch.float32)
    sim = symmetric_similarity(similarity.detach().to(dtype))
    batch_size, num_leaves = sim.shape[:2]
    num_nodes = 2 * num_leaves - 1
    device = sim.device
    batch = torch.arange(batch_size, device=device)
    neg = float('-inf')
    sim.diagonal(dim1=1, dim2=2).fill_(neg)
    # running row maxima, at their first (lowest) column
    row_max, row_arg = sim.max(dim=2)
    slot_size = torch.ones(batch_size, num_leaves, dtype=dtype, device=device)
    slot_node = torch.arange(num_leaves, device=device).repeat(batch_size, 1)
    size = torch.ones(batch_size, num_nodes, dtype=torch.long, device=device)
    level = torch.zeros_like(size)
    parent = torch.full_like(size, -1)
    children = torch.empty(batch_size, num_leaves - 1, 2, dtype=torch.long,
                           device=device)
    merge_similarity = sim.new_empty(batch_size, num_leaves - 1)
    for t in range(num_leaves - 1):
        # the lowest row holding the maximum, and its lowest column: i < j
        best, i = row_max.max(dim=1)
        j = row_arg[batch, i]
        merge_similarity[:, t] = best
        size_i, size_j = slot_size[batch, i], slot_size[batch, j]
        # Lance-Williams (Eq. 7); -inf stays at i, j and the dead slots
        merged = (size_i[:, None] * sim[batch, i] +
                  size_j[:, None] * sim[batch, j]) / (size_i + size_j)[:, None]
        sim[batch, i] = merged
        sim[batch, :, i] = merged
        sim[batch, j] = neg
        sim[batch, :, j] = neg
        node_i, node_j = slot_node[batch, i], slot_node[batch, j]
        node = num_leaves + t
        children[:, t, 0] = torch.minimum(node_i, node_j)
        children[:, t, 1] = torch.maximum(node_i, node_j)
        size[:, node] = size[batch, node_i] + size[batch, node_j]
        level[:, node] = torch.maximum(level[batch, node_i],
                                       level[batch, node_j]) + 1
        parent[batch, node_i] = node
        parent[batch, node_j] = node
        slot_node[batch, i] = node
        slot_size[batch, i] = size_i + size_j
        # row maxima: row j is dead; the live rows whose maximum sat in
        # column i or j (row i among them: its maximum was j) are reduced
        # again; the others keep the larger of their maximum and the new
        # entry in column i (an average of two entries, so at most the
        # maximum but for rounding), the lower column on a tie
        row_max[batch, j] = neg
        stale = ((row_arg == i[:, None]) | (row_arg == j[:, None])) & \
            (row_max > neg)
        higher = (merged > row_max) | ((merged == row_max) &
                                       (i[:, None] < row_arg))
        row_max = torch.where(higher, merged, row_max)
        row_arg = torch.where(higher, i[:, None], row_arg)
        rows_b, rows_k = stale.nonzero(as_tuple=True)
        row_max[rows_b, rows_k], row_arg[rows_b, rows_k] = \
            sim[rows_b, rows_k].max(dim=1)
    return Hierarchy(children, merge_similarity, size, level, parent,
                     _leaf_starts(children, size), level[:, -1].clone())


def _leaf_starts(children: Tensor, size: Tensor,
                 swap: Optional[Tensor] = None) -> Tensor:
    """``(B, M)`` long: where each node's leaves start in a depth-first
    leaf order of its tree, children left to right as in ``children``
    (``(B, N-1, 2)``), or right to left at the merges where ``swap``
    (``(B, N-1)`` bool) is True; ``size`` is ``(B, M)``. One pass from the
    root down the merges."""
    batch_size, num_merges, _ = children.shape
    num_leaves = num_merges + 1
    batch = torch.arange(batch_size, device=children.device)
    start = torch.zeros_like(size)
    for t in reversed(range(num_merges)):
        first, second = children[:, t, 0], children[:, t, 1]
        if swap is not None:
            first, second = (torch.where(swap[:, t], second, first),
                             torch.where(swap[:, t], first, second))
        offset = start[:, num_leaves + t].clone()
        start[batch, first] = offset
        start[batch, second] = offset + size[batch, first]
    return start


def random_leaf_order(tree: Hierarchy,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    """``(B, N)`` long: each patch's position in a depth-first order of its
    tree that visits the two children of every internal node in random
    order (each order with probability 1/2).

    The leaves under any node stay contiguous, so a prefix of this order is
    a union of whole subtrees plus, recursively, a prefix of one more: the
    order :func:`evolved_mask` truncates a part in.

    Args:
        tree (Hierarchy): From :func:`build_hierarchy`.
        generator (torch.Generator, optional): On the tree's device.
    """
    num_merges = tree.children.shape[1]
    swap = _uniform((tree.children.shape[0], num_merges), generator,
                    tree.children.device) < 0.5
    return _leaf_starts(tree.children, tree.size, swap)[:, :num_merges + 1]


def masking_depth(fraction: float, height: Tensor) -> Tensor:
    """The masking depth of each tree, ``floor(fraction * height)`` (``(B,)``
    long, in ``[0, height]``).

    EHM Eq. 14's symbols are lost in our copy of the paper; its prose is
    followed: the depth "evolves linearly from shallower to deeper layers"
    with the ratio of the current to the total training epochs and scales
    with the tree's height. ``fraction`` is that ratio (iteration-granular
    here) or a fixed fraction of the height (Table IV's only-shallow 0.2,
    only-deep 0.8). The floor keeps the depth at most the fraction of the
    height, so a schedule ending at ``fraction=1`` reaches the root only
    at its very end; a product within ``1e-9`` below an integer counts as
    that integer (``0.29 * 100`` is ``28.999999999999996`` in floating
    point).

    Args:
        fraction (float): In ``[0, 1]``.
        height (Tensor): ``(B,)`` long, :attr:`Hierarchy.height`.
    """
    return torch.floor(height.double() * fraction + 1e-9).long()


def parts_at_depth(tree: Hierarchy, depth: Tensor) -> Tensor:
    """Cut each tree at ``depth``: the part of each patch (``(B, N)`` long).

    The parts are the maximal nodes of level at most ``depth`` (EHM Sec.
    IV-B's nodes "at the d-th layer"): a node whose level is ``<= depth``
    and whose parent's is ``> depth`` (or the root). A patch's part id is
    that node's id (its own leaf id at depth 0; the root's, ``2N - 2``, for
    ``depth >= height``). Loop-free: the parts are the disjoint intervals
    ``[start, start + size)`` of the dendrogram's leaf order.

    Args:
        tree (Hierarchy): From :func:`build_hierarchy`.
        depth (Tensor): ``(B,)`` long, e.g. :func:`masking_depth`.
    """
    level, parent, start = tree.level, tree.parent, tree.start
    batch_size, num_nodes = level.shape
    num_leaves = (num_nodes + 1) // 2
    depth = depth.to(level.device).view(batch_size, 1)
    parent_level = level.gather(1, parent.clamp(min=0))
    top = (level <= depth) & ((parent < 0) | (parent_level > depth))
    # write each part's id at its first position, then fill forward
    ids = torch.arange(num_nodes, device=level.device).expand_as(level)
    owner = torch.full((batch_size, num_leaves + 1), -1, dtype=torch.long,
                       device=level.device)
    owner.scatter_(1, torch.where(top, start, num_leaves),
                   torch.where(top, ids, -1))
    owner = owner[:, :num_leaves]
    position = torch.arange(num_leaves, device=level.device)
    last_start = torch.where(owner >= 0, position, 0).cummax(dim=1).values
    owner = owner.gather(1, last_start)
    return owner.gather(1, start[:, :num_leaves])


def evolved_mask(parts: Tensor, num_masked: int,
                 generator: Optional[torch.Generator] = None,
                 leaf_order: Optional[Tensor] = None) -> Tensor:
    """EHM Eqs. 15-17: mask whole parts, taken in random order, until
    ``num_masked`` patches are covered, the last part truncated, so every
    image masks exactly ``num_masked`` patches.

    The paper keeps "only the first" leaves of the last part without saying
    in which order. With ``leaf_order`` (:func:`random_leaf_order`, what
    :class:`EvolvedHierarchicalMasker` passes) the truncated part keeps a
    prefix of a random depth-first order of its subtree: whole sub-parts
    and, recursively, a prefix of one more, so the mask stays a union of
    tree nodes even when the cut is at the root. Without it the part keeps
    a uniform random subset of its patches.

    Vectorised: the patches are sorted by (the rank of their part's random
    key, their position in ``leaf_order`` or a random rank) and the first
    ``num_masked`` masked. The part order is a uniform random permutation;
    at depth 0 (every patch its own part) this is a uniform random
    ``num_masked``-subset.

    Args:
        parts (Tensor): ``(B, N)`` long part id per patch, in ``[0, 2N-1)``
            (:func:`parts_at_depth`).
        num_masked (int): Patches masked per image, in ``[0, N]``.
        generator (torch.Generator, optional): On ``parts``' device.
        leaf_order (Tensor, optional): ``(B, N)`` long, a depth-first
            position of each patch in its tree.

    Returns:
        Tensor: ``(B, N)`` bool, True = masked.
    """
    batch_size, num_leaves = parts.shape
    if not 0 <= num_masked <= num_leaves:
        raise ValueError(f'evolved_mask: num_masked={num_masked} outside '
                         f'[0, {num_leaves}]')
    part_key = _uniform((batch_size, 2 * num_leaves - 1), generator,
                        parts.device)
    part_rank = part_key.argsort(dim=1).argsort(dim=1)
    if leaf_order is None:
        patch_key = _uniform((batch_size, num_leaves), generator,
                             parts.device)
        leaf_order = patch_key.argsort(dim=1).argsort(dim=1)
    order = part_rank.gather(1, parts) * num_leaves + leaf_order
    return order.argsort(dim=1).argsort(dim=1) < num_masked
