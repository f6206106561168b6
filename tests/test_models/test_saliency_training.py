"""30 iterations of the toy saliency-masking MoCo v2 config lower the loss.

MoCo's loss is measured against its queue: while real keys replace the
random unit vectors the queue starts with, the loss rises whether or not
anything is learned (at lr 0 it climbs from 3.9 to a plateau near 4.8 here).
The queue is therefore made 4 batches long, so that it holds only real keys
from iteration 5 on, and the loss of the last 5 iterations is compared with
that of iterations 5-9: against a queue of keys of the same kind, what is
left is learning."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from conftest import REPO, train_iterations

TOY = osp.join(REPO, 'configs/saliency_mask/'
               'saliency-mocov2-blur_resnet18-w32_1xb32-coslr-10e_toy.py')
BATCH = 8


@pytest.mark.slow
def test_thirty_iterations_lower_the_loss(tmp_path, toy_root):
    cfg = Config.fromfile(TOY)
    cfg.model.queue_len = 4 * BATCH  # full of real keys after 4 iterations
    config = str(tmp_path / 'toy_short_queue.py')
    cfg.dump(config)
    losses = train_iterations(config, str(tmp_path / 'work'), toy_root,
                              batch_size=BATCH)['loss']
    assert len(losses) == 30 and np.isfinite(losses).all()
    assert losses[-5:].mean() < 0.98 * losses[4:9].mean()
