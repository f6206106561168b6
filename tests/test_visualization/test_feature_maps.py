"""Grad-CAM and clustering maps of MaskDeep's levels (Sec. 7)."""
import os
import os.path as osp
import subprocess

import mmcv
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.model import revert_sync_batchnorm
from mmpretrain.registry import MODELS

from conftest import PYTHON, REPO
from maskssl.visualization import cluster_map, grad_cam, maskdeep_level_maps

TOY = osp.join(REPO, 'configs/maskdeep/maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py')


def test_grad_cam_by_hand():
    feature = torch.zeros(2, 2, 2)
    feature[0, 0, 0] = 2.  # channel 0 fires top-left
    feature[1, 1, 1] = 4.  # channel 1 fires bottom-right
    grad = torch.stack([torch.full((2, 2), 1.), torch.full((2, 2), -1.)])
    # weights (1, -1): 2 at top-left, -4 -> 0 after ReLU at bottom-right
    assert grad_cam(feature, grad).tolist() == [[1., 0.], [0., 0.]]
    assert grad_cam(feature, -grad).tolist() == [[0., 0.], [0., 1.]]


def test_cluster_map_separates_directions():
    feature = torch.zeros(2, 4, 4)
    feature[0, :, :2] = 1.  # left half points along channel 0
    feature[1, :, 2:] = 3.  # right half along channel 1
    clusters = cluster_map(feature, num_clusters=5,
                           generator=torch.Generator().manual_seed(0))
    left, right = clusters[:, :2].unique(), clusters[:, 2:].unique()
    assert len(left) == len(right) == 1 and left != right


def test_level_maps_of_the_toy_model():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = revert_sync_batchnorm(MODELS.build(Config.fromfile(TOY).model))
    model.eval()
    maps = maskdeep_level_maps(model, torch.randn(1, 3, 64, 64),
                               generator=torch.Generator().manual_seed(0))
    assert [tuple(cam.shape) for cam, _ in maps] == [(8, 8), (4, 4), (2, 2)]
    for cam, clusters in maps:
        assert cam.min() >= 0 and cam.max() <= 1
        assert clusters.shape == cam.shape and clusters.max() < 5


def test_vis_tool_writes_png(tmp_path, toy_root):
    model = revert_sync_batchnorm(MODELS.build(Config.fromfile(TOY).model))
    ckpt = tmp_path / 'maskdeep.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    folder = osp.join(toy_root, 'val', 'circle')
    image = osp.join(folder, sorted(os.listdir(folder))[0])
    proc = subprocess.run(
        [PYTHON, 'tools/visualization/vis_maskdeep.py', TOY, str(ckpt), image,
         '--img-size', '64', '--out-dir', str(tmp_path / 'vis')],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / 'vis' / (osp.splitext(osp.basename(image))[0] +
                              '_maskdeep.png')
    png = mmcv.imread(str(out))
    assert png.shape == (3 * 64, 3 * 64, 3)  # 3 levels x [img, cam, clusters]
