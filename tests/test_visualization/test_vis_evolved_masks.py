"""EHM's tree partitions and evolved masks figure (Figs. 6 and 7 of arXiv
2504.09155) and tools/visualization/vis_evolved_masks.py, with a tiny
EHMMAE (48-px images, 8-px patches: a 6 x 6 token grid, 4 blocks)."""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from PIL import Image

from conftest import REPO
from maskssl.launch import load_config
from maskssl.models.maskers import EvolvedHierarchicalMasker
from maskssl.models.maskers.hierarchy import build_hierarchy
from maskssl.utils import init_weights_quietly
from maskssl.visualization import (build_ehm_model, evolved_mask_example,
                                   plot_evolved_masks, read_image)
from maskssl.visualization.evolved_masks import (
    DEFAULT_DEPTHS, PANEL_SIZE, PART_ALPHA, ehm_masker, figure_size,
    overlay_parts, part_boundaries, part_colours, part_labels,
    preprocessing, progress_fraction, similarity_guidance)
from maskssl.visualization.mst_masks import MASK_GREY

spec = importlib.util.spec_from_file_location(
    'vis_evolved_masks',
    osp.join(REPO, 'tools/visualization/vis_evolved_masks.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

MEAN, STD = [120.0, 110.0, 100.0], [60.0, 55.0, 50.0]
N = 36  # 48-px images, 8-px patches


def tiny_config(masker="dict(type='EvolvedHierarchicalMasker', "
                "mask_ratio=0.75)", embed_dims=32):
    return f"""
model = dict(
    type='EHMMAE',
    backbone=dict(type='TokenMaskMAEViT', arch=dict(
        embed_dims={embed_dims}, num_layers=4, num_heads=2,
        feedforward_channels=64), img_size=48, patch_size=8),
    neck=dict(type='MAEPretrainDecoder', num_patches=36, patch_size=8,
              in_chans=3, embed_dim={embed_dims}, decoder_embed_dim=16,
              decoder_depth=1, decoder_num_heads=2, mlp_ratio=2.),
    head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=8,
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    masker={masker},
    attention_layers=2)
data_preprocessor = dict(type='SelfSupDataPreprocessor', mean={MEAN},
                         std={STD}, to_rgb=True)
"""


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The tiny config, a randomly initialised checkpoint of it and a
    60 x 50 image (a bright square on noise)."""
    root = tmp_path_factory.mktemp('ehm')
    config = root / 'ehm_tiny.py'
    config.write_text(tiny_config())
    torch.manual_seed(0)
    model = MODELS.build(load_config(str(config)).model)
    init_weights_quietly(model)
    checkpoint = root / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 120, (50, 60, 3), dtype=np.uint8)
    pixels[10:35, 20:45] = (230, 200, 40)
    image = root / 'bird.png'
    Image.fromarray(pixels).save(image)
    return str(config), str(checkpoint), str(image), model.state_dict()


@pytest.fixture(scope='module')
def model(files):
    config, checkpoint, _, _ = files
    return build_ehm_model(load_config(config), checkpoint)


def test_model_holds_the_checkpoint(model, files):
    state = files[3]
    got = model.state_dict()
    assert got.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(got[key], value), key
    assert not model.training
    masker, own = ehm_masker(model.masker)
    assert own and masker is model.masker
    other, own = ehm_masker(MODELS.build(dict(type='FixedRatioMasker')))
    assert not own and isinstance(other, EvolvedHierarchicalMasker)
    assert other.mask_ratio == 0.75


def test_preprocessing(files):
    assert preprocessing(load_config(files[0])) == (tuple(MEAN), tuple(STD),
                                                    True)
    own = dict(mean=[1, 2, 3], std=[4, 5, 6], bgr_to_rgb=False)
    top = dict(mean=[7, 8, 9], std=[1, 1, 1], to_rgb=True)
    # the model's own preprocessor wins (mmengine's Runner: setdefault)
    assert preprocessing(dict(model=dict(data_preprocessor=own),
                              data_preprocessor=top)) == (
        (1., 2., 3.), (4., 5., 6.), False)
    assert preprocessing(dict(model=dict(), data_preprocessor=top)) == (
        (7., 8., 9.), (1., 1., 1.), True)
    mean, std, rgb = preprocessing({})
    assert mean == (123.675, 116.28, 103.53) and rgb


def test_part_labels_number_parts_by_first_patch():
    parts = torch.tensor([[7, 3, 7, 9, 3], [4, 4, 4, 4, 4]])
    assert part_labels(parts).tolist() == [[0, 1, 0, 2, 1], [0, 0, 0, 0, 0]]
    assert part_labels(parts[0]).tolist() == [0, 1, 0, 2, 1]


def test_part_colours():
    colours = part_colours(36)
    assert colours.shape == (36, 3) and colours.dtype == np.uint8
    assert len({tuple(c) for c in colours.tolist()}) == 36


def test_part_boundaries():
    labels = torch.tensor([[0, 0, 1],
                           [2, 0, 1],
                           [2, 2, 2]])
    ph, pw = 2, 4  # patch height, width
    expected = []
    for y in range(3):  # vertical lines: a token and its right neighbour
        for x in range(2):
            if labels[y, x] != labels[y, x + 1]:
                edge = (x + 1) * pw - 0.5
                expected.append([[edge, y * ph - 0.5],
                                 [edge, (y + 1) * ph - 0.5]])
    for y in range(2):  # horizontal lines: a token and the one below
        for x in range(3):
            if labels[y, x] != labels[y + 1, x]:
                edge = (y + 1) * ph - 0.5
                expected.append([[x * pw - 0.5, edge],
                                 [(x + 1) * pw - 0.5, edge]])
    got = part_boundaries(labels, (ph, pw))
    assert len(expected) == 6  # 0|1 twice, 2|0, 0/2 at the left, 0/2, 1/2
    assert got.shape == (6, 2, 2)
    assert got.tolist() == expected
    assert part_boundaries(torch.zeros(2, 2, dtype=torch.long),
                           (2, 2)).shape == (0, 2, 2)


def test_overlay_parts():
    image = np.full((4, 6, 3), 100, dtype=np.uint8)
    image[0, 0] = (0, 50, 255)
    labels = torch.tensor([[0, 1, 1], [0, 0, 1]])  # 2 x 3 tokens of 2 x 2
    out = overlay_parts(image, labels, (2, 2))
    colours = part_colours(2)
    for y in range(4):
        for x in range(6):
            label = int(labels[y // 2, x // 2])
            expected = [round((1 - PART_ALPHA) * int(v) +
                              PART_ALPHA * int(c))
                        for v, c in zip(image[y, x], colours[label])]
            assert out[y, x].tolist() == expected, (y, x)


def test_progress_fraction():
    evolved = EvolvedHierarchicalMasker(start=0.2, end=0.6)
    assert progress_fraction(evolved, 0) == pytest.approx(0.2)
    assert progress_fraction(evolved, 0.5) == pytest.approx(0.4)
    assert progress_fraction(evolved, 1) == pytest.approx(0.6)
    deep = EvolvedHierarchicalMasker(depth=0.8)  # Table IV: only deep
    assert progress_fraction(deep, 0) == progress_fraction(deep, 1) == 0.8


def ancestor_at(parent, level, leaf, depth):
    """The highest ancestor of ``leaf`` of level <= ``depth``, by walking
    up the tree."""
    node = leaf
    while parent[node] >= 0 and level[parent[node]] <= depth:
        node = parent[node]
    return node


def test_example_partitions_follow_the_tree(model, files):
    image = read_image(files[2], 48)
    depths = [0, 0.3, 0.6, 1]
    ex = evolved_mask_example(image, model, model.masker, depths, [0.5],
                              seed=0, mean=MEAN, std=STD)
    assert ex.partitions.shape == (4, 6, 6) and ex.patch_size == (8, 8)
    # the tree, built again from the same guidance
    x = ((torch.from_numpy(image).permute(2, 0, 1).float() -
          torch.tensor(MEAN)[:, None, None]) /
         torch.tensor(STD)[:, None, None])[None]
    guidance, grid = similarity_guidance(model, x, model.attention_layers)
    assert grid == (6, 6) and guidance.shape == (1, N, N)
    tree = build_hierarchy(guidance)
    parent, level = tree.parent[0].tolist(), tree.level[0].tolist()
    assert ex.height == level[-1] >= 6  # at least log2(36) merges deep
    for row, fraction in enumerate(depths):
        depth = int(fraction * ex.height + 1e-9)
        assert ex.depth_levels[row] == depth
        nodes = [ancestor_at(parent, level, i, depth) for i in range(N)]
        labels = ex.partitions[row].flatten().tolist()
        assert ex.num_parts(row) == len(set(labels)) == len(set(nodes))
        for i in range(N):
            for j in range(N):
                assert (labels[i] == labels[j]) == (nodes[i] == nodes[j])
        firsts = [labels[i] for i in range(N) if labels[i] not in labels[:i]]
        assert firsts == list(range(len(firsts)))
    assert ex.num_parts(0) == N  # the leaves
    assert ex.num_parts(3) == 1  # the root
    assert 1 < ex.num_parts(2) <= ex.num_parts(1) < N


def test_masks_are_the_maskers(model, files):
    image = read_image(files[2], 48)
    progress = [0, 0.25, 0.5, 0.75, 1]
    ex = evolved_mask_example(image, model, model.masker, [0], progress,
                              seed=3, mean=MEAN, std=STD)
    # the masker's count: MAE keeps int(36 * 0.25) = 9 of the 36 tokens
    assert ex.num_masked == 27
    assert ex.masks.shape == (5, 6, 6)
    assert ex.masks.flatten(1).sum(1).tolist() == [27] * 5
    assert ex.progress_fractions == progress  # start 0, end 1
    x = ((torch.from_numpy(image).permute(2, 0, 1).float() -
          torch.tensor(MEAN)[:, None, None]) /
         torch.tensor(STD)[:, None, None])[None]
    guidance, _ = similarity_guidance(model, x, model.attention_layers)
    for p, mask in zip(progress, ex.masks):
        masker = EvolvedHierarchicalMasker(mask_ratio=0.75, depth=p)
        expected = masker(1, (6, 6), guidance,
                          torch.Generator().manual_seed(3))
        assert torch.equal(mask.flatten(), expected[0]), p
    # the same draw at another seed differs
    other = evolved_mask_example(image, model, model.masker, [0], [0],
                                 seed=4, mean=MEAN, std=STD)
    assert not torch.equal(other.masks[0], ex.masks[0])
    with pytest.raises(ValueError, match='progress'):
        evolved_mask_example(image, model, model.masker, [0], [1.5])
    with pytest.raises(ValueError, match='num_layers=5'):
        evolved_mask_example(image, model, model.masker, num_layers=5)


def test_figure_panels(model, files):
    image = read_image(files[2], 48)
    ex = evolved_mask_example(image, model, model.masker, [0, 0.5, 1],
                              [0, 1], seed=0, mean=MEAN, std=STD)
    fig = plot_evolved_masks(ex, title='toy')
    assert len(fig.axes) == 6  # 2 rows x 3 columns, in row order
    assert tuple(fig.get_size_inches()) == pytest.approx(figure_size(ex))
    for col in range(3):
        assert fig.axes[col].get_title().endswith(
            f'\n{ex.num_parts(col)} parts')
        # one white line per pair of neighbouring tokens in different parts
        labels = ex.partitions[col]
        pairs = sum(int(labels[y, x] != labels[y, x + 1])
                    for y in range(6) for x in range(5)) + sum(
                        int(labels[y, x] != labels[y + 1, x])
                        for y in range(5) for x in range(6))
        lines, = fig.axes[col].collections
        assert len(lines.get_segments()) == pairs
    assert len(fig.axes[0].collections[0].get_segments()) == 2 * 6 * 5
    assert len(fig.axes[2].collections[0].get_segments()) == 0
    assert fig.axes[0].get_title().startswith('(a) depth 0: level 0/')
    assert fig.axes[0].get_title().endswith(f'\n{N} parts')
    assert fig.axes[2].get_title().endswith('\n1 parts')
    for col in range(2):
        assert fig.axes[3 + col].get_title().endswith(', 27/36 masked')
        # the drawn panel: exactly the masked patches are grey
        drawn = fig.axes[3 + col].images[0].get_array()
        grey = (np.asarray(drawn) == MASK_GREY).all(-1)
        tokens = grey.reshape(6, 8, 6, 8).all(-1).all(1)
        assert np.array_equal(tokens, ex.masks[col].numpy())
    assert not fig.axes[5].images and not fig.axes[5].axison


def test_tool_writes_one_png_per_image(files, tmp_path, capsys):
    config, checkpoint, image, _ = files
    out = tmp_path / 'vis'
    tool.main([image, image, '--config', config, '--checkpoint',
               checkpoint, '--depths', '0', '1', '--progress', '0.5',
               '--out-dir', str(out)])
    captured = capsys.readouterr()
    expected = ['bird_evolved_masks.png', 'bird_2_evolved_masks.png']
    assert sorted(os.listdir(out)) == sorted(expected)
    # two columns (the longer row), two rows
    size = (round(tool.DPI * 2 * PANEL_SIZE[0]),
            round(tool.DPI * 2 * PANEL_SIZE[1]))
    for name in expected:
        with Image.open(out / name) as png:
            assert png.size == size
        assert f'-> {out / name}' in captured.out
    assert 'parts at depths [0.0, 1.0]: 36, 1; masks 27/36' in captured.out
    # the default panels, another tree source, another image
    other = str(tmp_path / 'other.jpg')
    Image.open(image).transpose(Image.FLIP_LEFT_RIGHT).save(other)
    tool.main([other, '--config', config, '--checkpoint', checkpoint,
               '--attention-layers', '4', '--out-dir', str(tmp_path / 'b')])
    captured = capsys.readouterr()
    assert f'parts at depths {list(DEFAULT_DEPTHS)}: 36, ' in captured.out
    assert ', 1; masks 27/36 tokens' in captured.out
    with Image.open(tmp_path / 'b' / 'other_evolved_masks.png') as png:
        assert png.size == (round(tool.DPI * 5 * PANEL_SIZE[0]),
                            round(tool.DPI * 2 * PANEL_SIZE[1]))


def test_tool_note_for_another_masker(files, tmp_path, capsys):
    _, checkpoint, image, _ = files
    fixed = tmp_path / 'fixed.py'
    fixed.write_text(tiny_config("dict(type='FixedRatioMasker', "
                                 "mask_ratio=0.75)"))
    tool.main([image, '--config', str(fixed), '--checkpoint', checkpoint,
               '--depths', '0', '--progress', '1', '--out-dir',
               str(tmp_path / 'out')])
    captured = capsys.readouterr()
    assert 'FixedRatioMasker, not an EvolvedHierarchicalMasker' in \
        captured.out
    assert os.listdir(tmp_path / 'out') == ['bird_evolved_masks.png']


def test_tool_errors(files, tmp_path, capsys):
    config, checkpoint, image, state = files
    no_backbone = tmp_path / 'no_backbone.pth'
    torch.save({'state_dict': {k[len('backbone.'):]: v
                               for k, v in state.items()
                               if k.startswith('backbone.')}}, no_backbone)
    wider = tmp_path / 'wider.py'
    wider.write_text(tiny_config(embed_dims=48))
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG but not really')
    not_ehm = tmp_path / 'not_ehm.py'
    not_ehm.write_text("model = dict(type='MaskDeep')\n")
    ok = ['--config', config, '--checkpoint', checkpoint]
    cases = [
        ([str(tmp_path / 'missing.png')] + ok, 'missing.png'),
        ([image, str(broken)] + ok, 'broken.png'),
        ([image, '--config', config, '--checkpoint',
          str(tmp_path / 'none.pth')], 'none.pth'),
        ([image, '--config', config, '--checkpoint', str(broken)],
         'broken.png'),
        ([image, '--config', config, '--checkpoint', str(no_backbone)],
         'not an EHM training checkpoint'),
        ([image, '--config', str(wider), '--checkpoint', checkpoint],
         'shapes differ'),
        ([image, '--config', str(tmp_path / 'nope.py'), '--checkpoint',
          checkpoint], 'nope.py'),
        ([image, '--config', str(not_ehm), '--checkpoint', checkpoint],
         'not_ehm.py'),
        ([image, '--depths', '0', '1.5'] + ok, '--depths'),
        ([image, '--progress', '-0.1'] + ok, '--progress'),
        ([image, '--attention-layers', '5'] + ok, '--attention-layers'),
        ([image, '--attention-layers', '0'] + ok, '--attention-layers'),
        ([image, '--config', config], '--checkpoint'),
    ]
    for argv, named in cases:
        with pytest.raises(SystemExit) as exc:
            tool.main(argv + ['--out-dir', str(tmp_path / 'out')])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert named in err, (argv, err)
    assert not osp.exists(tmp_path / 'out')  # nothing written


def test_bgr_model_gets_bgr_input(model, files):
    """A preprocessor without ``to_rgb`` trained the model on BGR: the RGB
    image is flipped before normalising."""
    image = read_image(files[2], 48)
    args = dict(depths=[0.3, 0.6], progress=[0.5], seed=0, mean=MEAN,
                std=STD)
    bgr = evolved_mask_example(image, model, model.masker, rgb=False, **args)
    flipped = evolved_mask_example(np.ascontiguousarray(image[..., ::-1]),
                                   model, model.masker, **args)
    rgb = evolved_mask_example(image, model, model.masker, **args)
    assert torch.equal(bgr.partitions, flipped.partitions)
    assert torch.equal(bgr.masks, flipped.masks)
    assert not torch.equal(bgr.partitions, rgb.partitions)
