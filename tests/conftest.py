import os.path as osp
import sys

import pytest

from maskssl.datasets import write_toy_dataset
from maskssl.engine.hooks import PretrainedCheckHook
from maskssl.utils import register_all_modules
from maskssl.utils.config import iter_cfg_dicts

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PYTHON = sys.executable
# modules that tests import into subprocesses (tests/helpers on PYTHONPATH),
# not tests themselves
collect_ignore = ['helpers']

register_all_modules()


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory) -> str:
    """A small toy dataset (48 train, 16 val scenes at 48-64 px), shared by
    the whole session."""
    root = str(tmp_path_factory.mktemp('toy'))
    write_toy_dataset(root, num_train=48, num_val=16, min_size=48,
                      max_size=64, seed=1)
    return root


def set_pretrained_checkpoint(model_cfg, checkpoint: str) -> None:
    """Put ``checkpoint`` into every Pretrained init_cfg of ``model_cfg``."""
    for node in iter_cfg_dicts(model_cfg):
        if node.get('type') == 'Pretrained':
            node['checkpoint'] = checkpoint


def pretrained_check_args(cfg) -> dict:
    """The check_pretrained arguments of the config's PretrainedCheckHook
    (the hook's own defaults where the config gives none)."""
    hook = next(h for h in cfg.custom_hooks
                if h['type'].endswith('PretrainedCheckHook'))
    hook = PretrainedCheckHook(
        **{k: v for k, v in hook.items() if k != 'type'})
    return dict(allow_missing=hook.allow_missing,
                allow_unexpected=hook.allow_unexpected,
                resizable=hook.resizable)
