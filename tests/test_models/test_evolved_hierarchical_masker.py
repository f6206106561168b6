"""Evolved Hierarchical Masking (EHM Sec. IV): the average-linkage tree
against SciPy and a per-image reference, the cut, the masks and the depth
schedule."""
import math

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from maskssl.models.maskers import EvolvedHierarchicalMasker, build_hierarchy
from maskssl.models.maskers.evolved_hierarchical_masker import \
    training_progress
from maskssl.models.maskers.hierarchy import (evolved_mask, masking_depth,
                                              parts_at_depth,
                                              random_leaf_order)


def random_similarity(batch_size, n, seed, symmetric=True):
    g = torch.Generator().manual_seed(seed)
    sim = torch.rand(batch_size, n, n, generator=g, dtype=torch.float64)
    return (sim + sim.transpose(1, 2)) / 2 if symmetric else sim


def leaf_sets(children, n):
    """The leaves under each merged node, in merge order."""
    sets = [frozenset([leaf]) for leaf in range(n)]
    for a, b in children:
        sets.append(sets[int(a)] | sets[int(b)])
    return sets[n:]


def levels(children, n):
    """Eq. 10 over linkage rows: leaves 0, a node one more than its deeper
    child."""
    level = [0] * n
    for a, b in children:
        level.append(max(level[int(a)], level[int(b)]) + 1)
    return level


def partition(children, n, depth):
    """The maximal nodes of level <= depth, as a set of leaf sets, by
    walking the merges: a merge whose level is <= depth joins its
    children's parts."""
    level = levels(children, n)
    sets = [frozenset([leaf]) for leaf in range(n)]
    parts = {frozenset([leaf]) for leaf in range(n)}
    for t, (a, b) in enumerate(children):
        sets.append(sets[int(a)] | sets[int(b)])
        if level[n + t] <= depth:
            parts -= {sets[int(a)], sets[int(b)]}
            parts.add(sets[-1])
    return parts


def parts_as_sets(part_ids):
    groups = {}
    for leaf, part in enumerate(part_ids.tolist()):
        groups.setdefault(part, set()).add(leaf)
    return {frozenset(g) for g in groups.values()}


def scipy_linkage(sim):
    """SciPy's average linkage on the distances 1 - s (s in [0, 1])."""
    dist = (1 - sim).numpy().copy()
    np.fill_diagonal(dist, 0)
    return linkage(squareform(dist, checks=False), method='average')


def reference_hierarchy(sim):
    """One image, obviously correct: clusters as leaf lists in slots named
    by their smallest leaf; Eq. 7 by the Lance-Williams update in Python
    floats (the same operations as the batched builder, so that ties are
    met alike); the most similar pair merged, ties to the lowest
    (slot, slot) pair."""
    n = len(sim)
    s = [[(sim[p][q] + sim[q][p]) / 2 for q in range(n)] for p in range(n)]
    node = list(range(n))
    count = [1] * n
    active = list(range(n))
    size, level, parent = [1] * n, [0] * n, [-1] * n
    children, merge_sim = [], []
    for t in range(n - 1):
        best = None
        for p in active:
            for q in active:
                if p < q and (best is None or s[p][q] > best[0]):
                    best = (s[p][q], p, q)
        value, p, q = best
        for k in active:
            s[p][k] = s[k][p] = (count[p] * s[p][k] + count[q] * s[q][k]) / (
                count[p] + count[q])
        new = n + t
        a, b = sorted((node[p], node[q]))
        children.append((a, b))
        merge_sim.append(value)
        size.append(size[a] + size[b])
        level.append(max(level[a], level[b]) + 1)
        parent[a] = parent[b] = new
        parent.append(-1)
        node[p], count[p] = new, count[p] + count[q]
        active.remove(q)
    return children, merge_sim, size, level, parent


@pytest.mark.parametrize('n', [2, 3, 7, 16, 49])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_tree_and_every_cut_equal_scipy_average_linkage(n, seed):
    sim = random_similarity(3, n, seed)
    tree = build_hierarchy(sim)
    for b in range(3):
        z = scipy_linkage(sim[b])
        ours = tree.children[b].tolist()
        # the same merges in the same order, at the same heights
        assert leaf_sets(ours, n) == leaf_sets(z[:, :2], n)
        np.testing.assert_allclose(tree.merge_similarity[b].numpy(),
                                   1 - z[:, 2], rtol=0, atol=1e-12)
        assert tree.size[b, n:].tolist() == z[:, 3].astype(int).tolist()
        assert tree.level[b].tolist() == levels(z[:, :2], n)
        height = tree.height[b].item()
        assert height == max(levels(z[:, :2], n))
        for depth in range(height + 1):
            parts = parts_at_depth(tree, torch.full((3, ), depth))[b]
            assert parts_as_sets(parts) == partition(z[:, :2], n, depth)


def test_merge_similarity_is_the_average_over_leaf_pairs():
    # Eq. 7 straight from the definition, against the Lance-Williams update
    n = 12
    sim = random_similarity(2, n, 5)
    tree = build_hierarchy(sim)
    for b in range(2):
        sets = [[leaf] for leaf in range(n)]
        for t, (x, y) in enumerate(tree.children[b].tolist()):
            total = sum(sim[b, p, q].item() for p in sets[x]
                        for q in sets[y])
            assert tree.merge_similarity[b, t].item() == pytest.approx(
                total / (len(sets[x]) * len(sets[y])), abs=1e-12)
            sets.append(sets[x] + sets[y])


def test_attention_is_made_symmetric():
    # Eq. 6: an asymmetric attention builds the tree of (A + A^T) / 2
    attention = random_similarity(2, 9, 3, symmetric=False)
    tree = build_hierarchy(attention)
    for b in range(2):
        z = scipy_linkage((attention[b] + attention[b].T) / 2)
        assert leaf_sets(tree.children[b].tolist(), 9) == \
            leaf_sets(z[:, :2], 9)


def test_ties_with_a_unique_answer_equal_scipy():
    # twins: leaves 2a and 2a+1 have similarity 2 (a tie over all twin
    # pairs, merged in either order); between twins the similarity is that
    # of their groups, so every later average is a distinct random value.
    # The clusters, heights and cuts are then unique whatever breaks ties.
    groups, n = 8, 16
    base = random_similarity(1, groups, 7)[0]
    sim = base.repeat_interleave(2, 0).repeat_interleave(2, 1)
    sim[torch.arange(n), torch.arange(n) ^ 1] = 2.0
    tree = build_hierarchy(sim[None])
    z = scipy_linkage(sim / 2)
    ours = set(zip(leaf_sets(tree.children[0].tolist(), n),
                   np.round(tree.merge_similarity[0].numpy(), 12)))
    theirs = set(zip(leaf_sets(z[:, :2], n), np.round(2 * (1 - z[:, 2]),
                                                      12)))
    assert ours == theirs
    assert set(leaf_sets(tree.children[0].tolist(), n)[:groups]) == \
        {frozenset([2 * a, 2 * a + 1]) for a in range(groups)}
    for depth in range(tree.height.item() + 1):
        parts = parts_at_depth(tree, torch.tensor([depth]))[0]
        assert parts_as_sets(parts) == partition(z[:, :2], n, depth)


@pytest.mark.parametrize('n,values,seed', [(7, 2, 0), (10, 3, 1), (13, 5, 2),
                                           (20, 3, 3), (10, 1000, 4)])
def test_batched_builder_equals_per_image_reference(n, values, seed):
    # small integer similarities: many ties, broken by the documented rule;
    # values=1000: almost no ties
    g = torch.Generator().manual_seed(seed)
    sim = torch.randint(values, (16, n, n), generator=g).double()
    sim = sim + sim.transpose(1, 2)
    tree = build_hierarchy(sim)
    for b in range(16):
        children, merge_sim, size, level, parent = reference_hierarchy(
            sim[b].tolist())
        assert tree.children[b].tolist() == [list(c) for c in children]
        assert tree.merge_similarity[b].tolist() == merge_sim
        assert tree.size[b].tolist() == size
        assert tree.level[b].tolist() == level
        assert tree.parent[b].tolist() == parent
        assert tree.height[b].item() == level[-1]


def test_cut_equals_walking_up_the_parents():
    n = 30
    tree = build_hierarchy(random_similarity(4, n, 11))
    for depth in range(tree.height.max().item() + 2):
        parts = parts_at_depth(tree, torch.full((4, ), depth))
        for b in range(4):
            level, parent = tree.level[b].tolist(), tree.parent[b].tolist()
            for leaf in range(n):
                node = leaf
                while parent[node] >= 0 and level[parent[node]] <= depth:
                    node = parent[node]
                assert parts[b, leaf].item() == node
    # the leaf depth gives singletons, the root's one part
    assert torch.equal(parts_at_depth(tree, torch.zeros(4, dtype=torch.long)),
                       torch.arange(n).expand(4, n))
    assert (parts_at_depth(tree, tree.height) == 2 * n - 2).all()


def test_batched_cut_takes_each_image_depth():
    tree = build_hierarchy(random_similarity(3, 20, 4))
    depth = torch.tensor([0, 2, 5])
    parts = parts_at_depth(tree, depth)
    for b in range(3):
        alone = parts_at_depth(tree, depth[b].expand(3))[b]
        assert torch.equal(parts[b], alone)


def test_masking_depth_is_the_floor_of_the_fraction_of_the_height():
    height = torch.tensor([0, 1, 5, 10, 100, 12])
    assert masking_depth(0.0, height).tolist() == [0] * 6
    assert masking_depth(1.0, height).tolist() == height.tolist()
    assert masking_depth(0.2, height).tolist() == [0, 0, 1, 2, 20, 2]
    assert masking_depth(0.8, height).tolist() == [0, 0, 4, 8, 80, 9]
    # 0.29 * 100 is 28.999999999999996 in floating point
    assert masking_depth(0.29, height)[4].item() == 29


def test_masks_are_whole_parts_plus_one_truncated_part_and_exact():
    n, batch = 49, 32
    tree = build_hierarchy(random_similarity(batch, n, 8))
    for fraction in (0.0, 0.3, 0.6, 1.0):
        parts = parts_at_depth(tree, masking_depth(fraction, tree.height))
        mask = evolved_mask(parts, 37, torch.Generator().manual_seed(0))
        assert mask.dtype == torch.bool and (mask.sum(1) == 37).all()
        for b in range(batch):
            partial = 0
            for part in parts[b].unique():
                hit = mask[b][parts[b] == part]
                partial += int(hit.any() and not hit.all())
            assert partial <= 1


def _leaves(tree, b, node):
    """The leaves under ``node`` of tree ``b``, by walking the merges."""
    n = tree.children.shape[1] + 1
    if node < n:
        return {node}
    left, right = tree.children[b, node - n].tolist()
    return _leaves(tree, b, left) | _leaves(tree, b, right)


def test_random_leaf_order_keeps_every_subtree_contiguous():
    n, batch = 20, 6
    tree = build_hierarchy(random_similarity(batch, n, 3))
    orders = [random_leaf_order(tree, torch.Generator().manual_seed(s))
              for s in (0, 1)]
    assert not torch.equal(orders[0], orders[1])
    for order in orders:
        for b in range(batch):
            assert sorted(order[b].tolist()) == list(range(n))
            for node in range(n, 2 * n - 1):
                pos = sorted(order[b, list(_leaves(tree, b, node))].tolist())
                assert pos == list(range(pos[0], pos[0] + len(pos)))


@pytest.mark.parametrize('fraction', [0.5, 1.0])
def test_truncated_part_keeps_whole_subtrees(fraction):
    """The masker's truncation follows the tree: inside the parts of the
    cut, the nodes partly masked are the ancestors of one patch (a chain),
    so even at the root cut the mask is a union of tree nodes, not a random
    subset."""
    n, batch = 36, 8
    sim = random_similarity(batch, n, 5).float()
    tree = build_hierarchy(sim)
    parts = parts_at_depth(tree, masking_depth(fraction, tree.height))
    masker = EvolvedHierarchicalMasker(depth=fraction)
    mask = masker(batch, (6, 6), sim, torch.Generator().manual_seed(2))
    for b in range(batch):
        partial = []
        for node in range(n, 2 * n - 1):
            leaves = list(_leaves(tree, b, node))
            hit = mask[b, leaves]
            if (len(parts[b, leaves].unique()) == 1 and hit.any()
                    and not hit.all()):
                partial.append(set(leaves))
        partial.sort(key=len)
        assert all(a < c for a, c in zip(partial, partial[1:]))
    # and a random subset of 27 of 36 leaves would break the chain
    rand = torch.rand(batch, n).argsort(1).argsort(1) < 27
    broken = 0
    for b in range(batch):
        partial = [_leaves(tree, b, node) for node in range(n, 2 * n - 1)
                   if 0 < int(rand[b, list(_leaves(tree, b, node))].sum())
                   < len(_leaves(tree, b, node))]
        partial.sort(key=len)
        broken += not all(a < c for a, c in zip(partial, partial[1:]))
    assert broken > 0


def test_mask_at_leaf_depth_is_uniform_random():
    # at depth 0 every patch is its own part: a uniform num_masked-subset,
    # whatever the similarity
    batch, n = 3000, 16
    parts = torch.arange(n).repeat(batch, 1)
    mask = evolved_mask(parts, 6, torch.Generator().manual_seed(1))
    assert (mask.sum(1) == 6).all()
    rate = mask.float().mean(0)
    p = 6 / n
    assert (rate - p).abs().max() < 4 * math.sqrt(p * (1 - p) / batch)
    # the masker at depth 0 gives the same masks for any guidance
    masker = EvolvedHierarchicalMasker(mask_ratio=0.5, depth=0.0)
    draws = [
        masker(8, (4, 4), random_similarity(8, 16, seed).float(),
               torch.Generator().manual_seed(3)) for seed in (0, 1)
    ]
    assert torch.equal(draws[0], draws[1])


def test_masker_is_seeded():
    masker = EvolvedHierarchicalMasker(depth=0.8)
    sim = random_similarity(4, 36, 0).float()

    def draw(seed):
        return masker(4, (6, 6), sim, torch.Generator().manual_seed(seed))

    first = draw(0)
    assert torch.equal(first, draw(0))
    assert not torch.equal(first, draw(1))
    assert (first.sum(1) == 27).all()  # round(0.75 * 36)


@pytest.mark.parametrize('ratio,grid,expected',
                         [(0.75, (14, 14), 147), (0.75, (7, 7), 37),
                          (0.4, (14, 14), 78), (0.62, (2, 5), 6),
                          (0.25, (2, 5), 3), (0.6, (6, 6), 22)])
def test_count_is_round_of_ratio_times_patches(ratio, grid, expected):
    # the count round(r N), halves up: 196 * 0.4 = 78.4 -> 78 and
    # 10 * 0.62 = 6.2 -> 6 (MAE's N - int(N (1 - r)) masks 79 and 7);
    # 10 * 0.25 = 2.5 -> 3
    n = grid[0] * grid[1]
    sim = random_similarity(3, n, 0).float()
    for depth in (0.0, 0.5, 1.0):
        masker = EvolvedHierarchicalMasker(mask_ratio=ratio, depth=depth)
        assert masker.count(n) == expected
        mask = masker(3, grid, sim, torch.Generator().manual_seed(0))
        assert (mask.sum(1) == expected).all()


@pytest.fixture
def hub():
    """The current message hub, its iter and max_iters restored after."""
    message_hub = MessageHub.get_current_instance()
    saved = {key: message_hub.get_info(key) for key in ('iter', 'max_iters')}
    yield message_hub
    for key, value in saved.items():
        if value is None:
            message_hub.pop_info(key, None)
        else:
            message_hub.update_info(key, value)


def balanced_similarity(n):
    """Leaves i, j are as similar as the length of their common binary
    prefix: a perfectly balanced tree whose cuts at depth d are the aligned
    blocks of 2^d patches."""
    bits = n.bit_length()
    common = [[bits - (i ^ j).bit_length() for j in range(n)]
              for i in range(n)]
    return torch.tensor(common, dtype=torch.float32)[None]


def masked_blocks(mask, block):
    """``(B, N // block)`` bool, which aligned blocks of ``block`` patches
    are fully masked; None unless every mask is a union of such blocks."""
    rows = mask.view(mask.shape[0], -1, block)
    full, empty = rows.all(2), ~rows.any(2)
    if not (full | empty).all():
        return None
    return full


def test_depth_evolves_with_iterations_from_the_message_hub(hub):
    masker = EvolvedHierarchicalMasker(mask_ratio=0.5)
    sim = balanced_similarity(16).expand(64, 16, 16).contiguous()
    tree = build_hierarchy(sim)
    assert (tree.height == 4).all()
    hub.update_info('max_iters', 100)
    # iter -> fraction of the height 4 -> depth -> parts of 2^depth patches
    for it, block in [(0, 1), (24, 1), (25, 2), (50, 4), (75, 8), (99, 8)]:
        hub.update_info('iter', it)
        assert masker.depth_fraction() == it / 100
        mask = masker(64, (4, 4), sim, torch.Generator().manual_seed(it))
        assert (mask.sum(1) == 8).all()
        full = masked_blocks(mask, block)
        assert full is not None and (full.sum(1) == 8 // block).all()
        if block < 8:
            # and not whole blocks of twice the size in every image
            assert masked_blocks(mask, 2 * block) is None
    # a custom range: start 0.5 at iter 0, end 0.75
    hub.update_info('iter', 0)
    assert EvolvedHierarchicalMasker(start=0.5, end=0.75).depth_fraction() \
        == 0.5
    hub.update_info('iter', 60)
    assert EvolvedHierarchicalMasker(start=0.5, end=0.75).depth_fraction() \
        == pytest.approx(0.65)
    # fixed depths ignore the schedule: 0.2 of 4 -> 0, 0.8 of 4 -> 3
    shallow = EvolvedHierarchicalMasker(mask_ratio=0.5, depth=0.2)
    deep = EvolvedHierarchicalMasker(mask_ratio=0.5, depth=0.8)
    gen = torch.Generator().manual_seed(0)
    assert masked_blocks(shallow(64, (4, 4), sim, gen), 2) is None
    assert masked_blocks(deep(64, (4, 4), sim, gen), 8) is not None


def test_progress_outside_training_is_zero(hub):
    hub.pop_info('max_iters', None)
    assert training_progress(hub) == 0.0
    hub.update_info('max_iters', 10)
    hub.update_info('iter', 4)
    assert training_progress(hub) == 0.4
    hub.update_info('iter', 12)
    assert training_progress(hub) == 1.0


def test_registered_and_declares_its_guidance():
    masker = MODELS.build(dict(type='EvolvedHierarchicalMasker', depth=0.2))
    assert isinstance(masker, EvolvedHierarchicalMasker)
    assert masker.guidance == 'similarity' and masker.fixed_count


@pytest.mark.parametrize('kwargs,key', [
    (dict(mask_ratio=1.5), 'mask_ratio=1.5'),
    (dict(mask_ratio=0), 'mask_ratio=0'),
    (dict(depth='deep'), "depth='deep'"),
    (dict(depth=1.2), 'depth=1.2'),
    (dict(depth=True), 'depth=True'),
    (dict(start=-0.1), 'start=-0.1'),
    (dict(end=2), 'end=2'),
])
def test_bad_arguments_are_named(kwargs, key):
    with pytest.raises(ValueError, match=key):
        EvolvedHierarchicalMasker(**kwargs)


def test_bad_guidance_is_named():
    masker = EvolvedHierarchicalMasker()
    with pytest.raises(ValueError, match='similarity.*got None'):
        masker(2, (3, 3))
    with pytest.raises(ValueError, match=r'\(2, 9, 9\)'):
        masker(2, (3, 3), torch.rand(2, 9))
    bad = torch.rand(2, 9, 9)
    bad[0, 1, 2] = float('nan')
    with pytest.raises(ValueError, match='similarity has non-finite'):
        masker(2, (3, 3), bad)
    with pytest.raises(ValueError, match='num_masked=10'):
        evolved_mask(torch.zeros(1, 9, dtype=torch.long), 10)
