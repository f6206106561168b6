import os.path as osp
import sys

import pytest

from maskssl.datasets import write_toy_dataset
from maskssl.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PYTHON = sys.executable

register_all_modules()


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory) -> str:
    """A small toy dataset (48 train, 16 val scenes at 48-64 px), shared by
    the whole session."""
    root = str(tmp_path_factory.mktemp('toy'))
    write_toy_dataset(root, num_train=48, num_val=16, min_size=48,
                      max_size=64, seed=1)
    return root
