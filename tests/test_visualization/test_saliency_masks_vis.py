"""The saliency-guided masking figure (Fig. 3 of arXiv 2309.12757) and
tools/visualization/vis_saliency_masks.py, on toy images with a small
random ResNet-18 saliency network."""
import importlib.util
import os
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torchvision

from conftest import REPO
from maskssl.models.saliency.fills import scaled_window
from maskssl.models.saliency.functional import cells_to_pixels
from maskssl.visualization import (build_fills, build_saliency,
                                   plot_saliency_masks, read_image,
                                   saliency_mask_example, sample_masked_views)
from maskssl.visualization.saliency_masks import (STRATEGIES, cell_edges,
                                                  denormalize, normalize)

SIZE = 128  # a 4 x 4 cell grid: every positive masks at least one cell

spec = importlib.util.spec_from_file_location(
    'vis_saliency_masks',
    osp.join(REPO, 'tools/visualization/vis_saliency_masks.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def toy_images(root, n=1):
    folder = osp.join(root, 'val', 'circle')
    return [osp.join(folder, name) for name in sorted(os.listdir(folder))[:n]]


@pytest.fixture(scope='module')
def saliency():
    torch.manual_seed(0)
    module, loaded = build_saliency(depth=18)
    assert not loaded
    return module


@pytest.fixture(scope='module')
def fills():
    return build_fills()


@pytest.fixture(scope='module')
def image(toy_root):
    return read_image(toy_images(toy_root)[0], SIZE)


def example_of(image, saliency, fills, seed, samples=3):
    return saliency_mask_example(image, saliency, fills, samples,
                                 torch.Generator().manual_seed(seed))


def test_read_image_and_normalisation(tmp_path):
    # 80 x 40, left half red, right half blue: RGB order, shorter side to
    # 64 (128 x 64), centre crop of columns 32-95
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, :40, 2] = 255  # BGR red
    img[:, 40:, 0] = 255  # BGR blue
    path = str(tmp_path / 'halves.png')
    mmcv.imwrite(img, path)
    rgb = read_image(path, 64)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert rgb[30, 10].tolist() == [255, 0, 0]
    assert rgb[30, 54].tolist() == [0, 0, 255]
    x = normalize(rgb)
    assert x.shape == (1, 3, 64, 64)
    assert torch.allclose(x[0, :, 30, 10], torch.tensor(
        [(255 - 123.675) / 58.395, -116.28 / 57.12, -103.53 / 57.375]))
    assert np.allclose(denormalize(x[0]) * 255, rgb, atol=1e-3)


def test_unreadable_or_missing_image_names_the_file(tmp_path):
    missing = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        read_image(missing, SIZE)
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not an image at all')
    with pytest.raises(ValueError, match='broken.jpg'):
        read_image(str(broken), SIZE)


def test_views_replace_only_their_masks(image, saliency, fills):
    ex = example_of(image, saliency, fills, seed=0)
    assert tuple(ex.foreground.shape) == (4, 4)
    assert ex.foreground.dtype == torch.bool
    assert ex.activation.shape == ex.foreground.shape
    assert list(ex.views) == list(STRATEGIES)
    for name, vw in ex.views.items():
        for views, masks in ((vw.positives, vw.pos_masks),
                             (vw.negatives, vw.neg_masks)):
            assert views.shape == masks.shape == (3, 3, SIZE, SIZE)
            kept = ~masks
            assert torch.equal(views[kept],
                               vw.inputs.expand_as(views)[kept]), name
            assert masks.any(), name
        # hard negatives touch only foreground cells (BlurFill, MeanFill
        # and HighPassFill's cell modes)
        fg = cells_to_pixels(ex.foreground, (SIZE, SIZE))
        modes = vw.neg_modes or ['spatial'] * 3
        for mask, mode in zip(vw.neg_masks, modes):
            if mode != 'focal':
                assert not (mask & ~fg).any(), name
    assert ex.views['HighPassFill'].high_pass
    assert not ex.views['BlurFill'].high_pass
    # the high-pass fill's input is high-passed, the others' the image
    assert torch.equal(ex.views['MeanFill'].inputs, normalize(image))
    assert not torch.equal(ex.views['HighPassFill'].inputs,
                           normalize(image))


def test_high_pass_modes_match_the_masks(fills):
    fg = torch.zeros(1, 4, 4, dtype=torch.bool)
    fg[:, 1:3] = True
    x = torch.randn(1, 3, SIZE, SIZE)
    views = sample_masked_views(x, fg, {'HighPassFill': fills['HighPassFill']},
                                samples=24,
                                generator=torch.Generator().manual_seed(3))
    vw = views['HighPassFill']
    wh, ww = scaled_window((SIZE, SIZE), 200 / 224)
    nh, nw = scaled_window((SIZE, SIZE), 130 / 224)
    seen = set()
    for masks, modes, window in ((vw.pos_masks, vw.pos_modes, None),
                                 (vw.neg_masks, vw.neg_modes, (nh, nw))):
        for mask, mode in zip(masks, modes):
            seen.add(mode)
            per_channel = mask.flatten(1).sum(1)
            if mode == 'focal':  # a window kept (positive) or masked
                expected = nh * nw if window else SIZE * SIZE - wh * ww
                assert per_channel.tolist() == [expected] * 3
            elif mode == 'spatial':
                assert torch.equal(mask[0], mask[1])
                assert torch.equal(mask[0], mask[2])
    assert seen == {'focal', 'spatial', 'channel-wise'}


def test_same_seed_same_masks(image, saliency, fills):
    a = example_of(image, saliency, fills, seed=5)
    b = example_of(image, saliency, fills, seed=5)
    c = example_of(image, saliency, fills, seed=6)
    assert torch.equal(a.foreground, b.foreground)
    differs = False
    for name in STRATEGIES:
        va, vb, vc = a.views[name], b.views[name], c.views[name]
        assert torch.equal(va.pos_masks, vb.pos_masks)
        assert torch.equal(va.neg_masks, vb.neg_masks)
        assert torch.equal(va.positives, vb.positives)
        assert torch.equal(va.negatives, vb.negatives)
        assert va.pos_modes == vb.pos_modes
        differs |= not torch.equal(va.pos_masks, vc.pos_masks)
    assert differs


@pytest.mark.parametrize('samples', [1, 3])
def test_figure_panels(image, saliency, fills, samples, tmp_path):
    ex = example_of(image, saliency, fills, seed=0, samples=samples)
    fig = plot_saliency_masks(ex, title='toy')
    # image, activation, saliency grid, settings; per strategy its input,
    # the positives and the negatives
    assert len(fig.axes) == 4 + len(STRATEGIES) * (1 + 2 * samples)
    # foreground cells outlined on the activation map, the 4 x 4 cell grid
    # (3 + 3 lines) over the image
    assert len(fig.axes[1].patches) == int(ex.foreground.sum())
    assert len(fig.axes[2].lines) == 6
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[2].startswith('SCDA saliency: '
                                f'{int(ex.foreground.sum())}/16 cells fg')
    high_pass = titles[4 + 2 * (1 + 2 * samples):]
    assert 'high-pass' in high_pass[0]
    assert all('rescaled' in t for t in high_pass[1:])
    assert not any('rescaled' in t for t in titles[:-len(high_pass)])
    out = tmp_path / 'fig.png'
    fig.savefig(out, dpi=50)
    width, height = fig.get_size_inches() * 50
    assert mmcv.imread(str(out)).shape == (round(height), round(width), 3)


def test_cell_edges_follow_cells_to_pixels():
    for cells, pixels in ((7, 224), (4, 100), (2, 64)):
        owner = cells_to_pixels(torch.arange(cells)[:, None],
                                (pixels, 1))[:, 0]
        starts = [i for i in range(1, pixels) if owner[i] != owner[i - 1]]
        assert cell_edges(cells, pixels) == [s - 0.5 for s in starts]


def test_checkpoints_torchvision_and_mmpretrain(tmp_path):
    net = torchvision.models.resnet18()  # random; nothing downloads
    state = net.state_dict()
    tv = tmp_path / 'tv.pth'
    torch.save(state, tv)
    mm = tmp_path / 'mm.pth'
    torch.save(dict(state_dict={**{f'backbone.{k}': v for k, v in
                                   state.items() if not k.startswith('fc.')},
                                'head.fc.weight': state['fc.weight']}), mm)
    for path in (tv, mm):
        module, loaded = build_saliency(str(path), depth=18)
        assert loaded
        got = module.network.state_dict()
        assert torch.equal(got['layer4.1.conv2.weight'],
                           state['layer4.1.conv2.weight'])


def test_config_settings(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "model = dict(type='SaliencyMoCoV2',\n"
        "    saliency=dict(type='SCDASaliency', source='pretrained',\n"
        "        std_factor=0.3, network=dict(type='ResNet', depth=18,\n"
        "        out_indices=(3, ), init_cfg=dict(type='Pretrained',\n"
        "        checkpoint='', prefix='backbone.'))),\n"
        "    fill=dict(type='BlurFill', kernel_size=15, sigma=3.0,\n"
        "        masker=dict(type='SaliencyCellMasker',\n"
        "                    alpha=(0.15, 0.15))))\n")
    saliency_cfg, fill_cfg = tool.model_settings(str(cfg))
    module, loaded = build_saliency(None, 50, saliency_cfg)
    assert not loaded and module.std_factor == 0.3
    assert module.network.depth == 18
    fills = build_fills(fill_cfg)
    assert fills['BlurFill'].kernel_size == 15
    assert fills['BlurFill'].sigma == 3.0
    assert fills['HighPassFill'].blur_kernel_size == 11  # the default
    assert all(f.masker.alpha == (0.15, 0.15) for f in fills.values())


def test_tool_writes_one_png_per_image(toy_root, tmp_path, capsys):
    images = toy_images(toy_root, 2)
    out = tmp_path / 'vis'
    tool.main([*images, images[0], '--depth', '18', '--img-size', '64',
               '--samples', '1', '--out-dir', str(out)])
    captured = capsys.readouterr()
    assert 'randomly initialised ResNet-18' in captured.err
    assert 'meaningless' in captured.err
    stems = [osp.splitext(osp.basename(p))[0] for p in images]
    expected = [f'{stems[0]}_saliency_masks.png',
                f'{stems[1]}_saliency_masks.png',
                f'{stems[0]}_2_saliency_masks.png']
    assert sorted(os.listdir(out)) == sorted(expected)
    png = mmcv.imread(str(out / expected[0]))
    assert png.shape[0] > 300 and png.shape[1] > 300
    for name in expected:
        assert f'-> {out / name}' in captured.out


def test_tool_errors(tmp_path, toy_root, capsys):
    image = toy_images(toy_root)[0]
    cases = [
        ([image, '--img-size', '16'], '--img-size'),
        ([image, '--samples', '0'], '--samples'),
        ([str(tmp_path / 'missing.png')], 'missing.png'),
        ([image, '--depth', '18', '--checkpoint',
          str(tmp_path / 'none.pth')], '--checkpoint'),
    ]
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG but not really')
    cases.append(([image, str(broken)], 'broken.png'))
    for argv, named in cases:
        with pytest.raises(SystemExit) as exc:
            tool.main(argv + ['--out-dir', str(tmp_path / 'out')])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert named in err, (argv, err)
    assert not osp.exists(tmp_path / 'out')  # nothing written
