"""30 iterations of the toy MaskDeep config lower the loss."""
import os.path as osp

import numpy as np
import pytest

from conftest import REPO, train_iterations

TOY = osp.join(REPO, 'configs/maskdeep/maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py')


@pytest.mark.slow
def test_thirty_iterations_lower_the_loss(tmp_path, toy_root):
    losses = train_iterations(TOY, str(tmp_path), toy_root)['loss']
    assert len(losses) == 30 and np.isfinite(losses).all()
    assert losses[-5:].mean() < 0.5 * losses[:5].mean()
