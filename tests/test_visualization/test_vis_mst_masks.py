"""MST's attention-guided masking figure (Fig. 2 of arXiv 2106.05656) and
tools/visualization/vis_mst_masks.py, with the toy config's 4-block ViT
(48-px images, 8-px patches: a 6 x 6 token grid)."""
import importlib.util
import os
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS

from conftest import REPO
from maskssl.launch import load_config
from maskssl.visualization import (build_maskers, build_teacher,
                                   mst_mask_example, plot_mst_masks,
                                   read_image)
from maskssl.visualization.mst_masks import (FIGURE_SIZE, MASK_GREY,
                                             TEACHER_PREFIX,
                                             candidate_tokens,
                                             global_view_size, grey_out,
                                             normalization, patch_pixels)

TOY = osp.join(REPO, 'configs/mst/mst_vit-tiny-p8_1xb32-coslr-10e_toy.py')
DEIT = osp.join(REPO,
                'configs/mst/mst_deit-small-p16_8xb128-amp-coslr-100e_in1k.py')

spec = importlib.util.spec_from_file_location(
    'vis_mst_masks', osp.join(REPO, 'tools/visualization/vis_mst_masks.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


@pytest.fixture(scope='module')
def toy_cfg():
    return load_config(TOY)


@pytest.fixture(scope='module')
def image_path(tmp_path_factory):
    """A 60 x 50 BGR image: a bright square on noise."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 120, (50, 60, 3), dtype=np.uint8)
    img[10:35, 20:45] = (40, 200, 230)
    path = str(tmp_path_factory.mktemp('img') / 'toy.png')
    mmcv.imwrite(img, path)
    return path


@pytest.fixture(scope='module')
def checkpoint(toy_cfg, tmp_path_factory):
    """A toy MST training checkpoint whose teacher differs from its
    student, and the teacher backbone's state."""
    torch.manual_seed(0)
    model = MODELS.build(toy_cfg.model)
    teacher = model.teacher.module[0]
    with torch.no_grad():
        for param in teacher.parameters():
            param.add_(0.1 * torch.randn_like(param))
    path = str(tmp_path_factory.mktemp('ckpt') / 'mst_toy.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path, teacher.state_dict(), model.backbone.state_dict()


@pytest.fixture(scope='module')
def teacher(toy_cfg, checkpoint):
    backbone, loaded = build_teacher(toy_cfg.model.backbone, checkpoint[0])
    assert loaded and not backbone.training
    return backbone


def test_config_settings(toy_cfg):
    assert global_view_size(toy_cfg) == 48
    assert global_view_size(load_config(DEIT)) == 224
    # no pipeline: the backbone's input size, else mmpretrain's 224
    assert global_view_size(dict(model=dict(backbone=dict(
        img_size=96)))) == 96
    assert global_view_size({}) == 224
    mean, std = normalization(toy_cfg)
    assert mean == (123.675, 116.28, 103.53)
    assert std == (58.395, 57.12, 57.375)
    guided, random = build_maskers(toy_cfg.model.masker)
    assert (guided.num, guided.p, random.p) == (8, 0.1, 0.1)
    with pytest.raises(ValueError, match='RandomTokenMasker'):
        build_maskers(dict(type='RandomTokenMasker'))


def test_teacher_weights_are_the_checkpoints_teacher(teacher, checkpoint):
    _, teacher_state, student_state = checkpoint
    got = teacher.state_dict()
    assert got.keys() == teacher_state.keys()
    for key, value in teacher_state.items():
        assert torch.equal(got[key], value), key
    assert not torch.equal(got['layers.0.attn.qkv.weight'],
                           student_state['layers.0.attn.qkv.weight'])


def test_patch_pixels_and_grey_out():
    tokens = torch.arange(6).reshape(2, 3)
    pixels = patch_pixels(tokens, (2, 4))
    assert pixels.shape == (4, 12)
    for y in range(4):
        for x in range(12):
            assert pixels[y, x] == tokens[y // 2, x // 4]
    image = np.arange(4 * 12 * 3, dtype=np.uint8).reshape(4, 12, 3)
    mask = patch_pixels(torch.tensor([[True, False, False],
                                      [False, False, True]]), (2, 4)).numpy()
    out = grey_out(image, mask)
    for y in range(4):
        for x in range(12):
            masked = (y < 2 and x < 4) or (y >= 2 and x >= 8)
            expected = [MASK_GREY] * 3 if masked else image[y, x].tolist()
            assert out[y, x].tolist() == expected
    assert image[0, 0].tolist() == [0, 1, 2]  # the input is not modified


def test_candidates_are_the_least_attended():
    importance = torch.tensor([[0.5, 0.1, 0.4, 0.1, 0.9, 0.3, 0.2, 0.6]])
    # N // num = 8 // 4 = 2 lowest: the two 0.1 (ties by position)
    assert candidate_tokens(importance, 4)[0].nonzero().flatten().tolist() \
        == [1, 3]
    assert candidate_tokens(importance, 2)[0].nonzero().flatten().tolist() \
        == [1, 3, 5, 6]


def test_guided_mask_never_masks_the_most_attended(teacher, toy_cfg,
                                                   image_path):
    image = read_image(image_path, 48)
    guided, random = build_maskers(toy_cfg.model.masker)
    mean, std = normalization(toy_cfg)
    guided_total = random_on_important = 0
    for seed in range(40):
        ex = mst_mask_example(image, teacher, guided, random,
                              torch.Generator().manual_seed(seed), mean, std)
        assert ex.attention.shape == ex.guided_mask.shape == (6, 6)
        assert ex.random_mask.shape == ex.candidates.shape == (6, 6)
        assert ex.patch_size == (8, 8)
        # the hand computation: sort the 36 tokens by attention, the
        # 36 // 8 = 4 lowest are the candidates
        att = ex.attention.flatten().tolist()
        order = sorted(range(36), key=lambda i: (att[i], i))
        lowest, most_attended = set(order[:4]), set(order[4:])
        assert set(ex.candidates.flatten().nonzero().flatten().tolist()) \
            == lowest
        masked = set(ex.guided_mask.flatten().nonzero().flatten().tolist())
        assert not masked & most_attended
        assert order[-1] not in masked  # the most attended token
        guided_total += len(masked)
        random_on_important += int(
            ex.random_mask.flatten()[sorted(most_attended)].sum())
    # not vacuous: candidates do get masked (p = 0.1 of 4 tokens, 40 draws)
    # and the random mask (p = 0.1 of all tokens) hits attended ones
    assert guided_total > 0
    assert random_on_important > 0


def test_same_seed_same_masks(teacher, toy_cfg, image_path):
    image = read_image(image_path, 48)
    guided, random = build_maskers(dict(type='AttentionGuidedMasker', num=2,
                                        p=0.5))
    a, b, c = (mst_mask_example(image, teacher, guided, random,
                                torch.Generator().manual_seed(s))
               for s in (3, 3, 4))
    assert torch.equal(a.random_mask, b.random_mask)
    assert torch.equal(a.guided_mask, b.guided_mask)
    assert torch.equal(a.attention, b.attention)
    assert not (torch.equal(a.random_mask, c.random_mask)
                and torch.equal(a.guided_mask, c.guided_mask))


def test_figure_panels(teacher, image_path):
    image = read_image(image_path, 48)
    guided, random = build_maskers(dict(type='AttentionGuidedMasker', num=2,
                                        p=0.5))
    ex = mst_mask_example(image, teacher, guided, random,
                          torch.Generator().manual_seed(0))
    fig = plot_mst_masks(ex, title='toy')
    assert len(fig.axes) == 4
    # the 36 // 2 candidates outlined on the attention-guided panel
    assert len(fig.axes[3].patches) == 18
    n_random, n_guided = int(ex.random_mask.sum()), int(ex.guided_mask.sum())
    assert fig.axes[2].get_title().split('\n')[1].startswith(
        f'{n_random}/36 masked')
    assert fig.axes[3].get_title().split('\n')[1] == \
        f'{n_guided}/36 masked, 0 of the 18 most attended'


def test_tool_writes_one_png_per_image(image_path, checkpoint, tmp_path,
                                       capsys):
    out = tmp_path / 'vis'
    other = str(tmp_path / 'other.jpg')
    mmcv.imwrite(mmcv.imread(image_path)[:, ::-1], other)
    tool.main([image_path, other, image_path, '--checkpoint', checkpoint[0],
               '--config', TOY, '--out-dir', str(out)])
    captured = capsys.readouterr()
    assert 'WARNING' not in captured.err
    expected = ['toy_mst_masks.png', 'other_mst_masks.png',
                'toy_2_mst_masks.png']
    assert sorted(os.listdir(out)) == sorted(expected)
    width, height = (round(v * tool.DPI) for v in FIGURE_SIZE)
    for name in expected:
        assert mmcv.imread(str(out / name)).shape == (height, width, 3)
        assert f'-> {out / name}' in captured.out
    # without a checkpoint: a random teacher, with a warning
    tool.main([image_path, '--config', TOY, '--img-size', '32',
               '--out-dir', str(tmp_path / 'random')])
    captured = capsys.readouterr()
    assert 'randomly initialised' in captured.err
    assert '/16 tokens' in captured.out  # a 32-px image: 4 x 4 tokens
    assert os.listdir(tmp_path / 'random') == ['toy_mst_masks.png']


def test_tool_errors(tmp_path, image_path, checkpoint, capsys):
    path, teacher_state, student_state = checkpoint
    student_only = tmp_path / 'student.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in student_state.items()}},
               student_only)
    wrong_shape = tmp_path / 'wrong_shape.pth'
    state = {TEACHER_PREFIX + k: v for k, v in teacher_state.items()}
    state[TEACHER_PREFIX + 'pos_embed'] = torch.zeros(1, 5, 192)
    torch.save({'state_dict': state}, wrong_shape)
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG but not really')
    not_mst = tmp_path / 'not_mst.py'
    not_mst.write_text("model = dict(type='MaskDeep')\n")
    toy = ['--config', TOY, '--checkpoint', path]
    cases = [
        ([str(tmp_path / 'missing.png')] + toy, 'missing.png'),
        ([image_path, str(broken)] + toy, 'broken.png'),
        ([image_path, '--img-size', '50'] + toy, '--img-size'),
        ([image_path, '--config', TOY, '--checkpoint',
          str(tmp_path / 'none.pth')], 'none.pth'),
        ([image_path, '--config', TOY, '--checkpoint', str(broken)],
         'broken.png'),
        ([image_path, '--config', TOY, '--checkpoint', str(student_only)],
         'not an MST training checkpoint'),
        ([image_path, '--config', TOY, '--checkpoint', str(wrong_shape)],
         'pos_embed'),
        ([image_path, '--config', str(not_mst)], 'not_mst.py'),
        ([image_path, '--config', str(tmp_path / 'nope.py')], 'nope.py'),
    ]
    for argv, named in cases:
        with pytest.raises(SystemExit) as exc:
            tool.main(argv + ['--out-dir', str(tmp_path / 'out')])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert named in err, (argv, err)
    assert not osp.exists(tmp_path / 'out')  # nothing written
