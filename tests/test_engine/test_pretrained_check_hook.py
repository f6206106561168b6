"""PretrainedCheckHook checks weights before training only: tools/test.py on a
benchmark config (init_cfg checkpoint left empty, weights from load_from)
must not be stopped."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.runner import BaseLoop
from mmpretrain.models import ResNet

from maskssl.engine import PretrainedCheckHook


class _Loop(BaseLoop):

    def run(self) -> None:
        pass


def _runner(checkpoint: str, training: bool, load_from=None):
    model = ResNet(depth=18, init_cfg=dict(type='Pretrained',
                                           checkpoint=checkpoint,
                                           prefix='backbone.'))
    loop = _Loop(SimpleNamespace(), []) if training else None
    return SimpleNamespace(model=model, _train_loop=loop, iter=0,
                           cfg=ConfigDict(load_from=load_from))


def test_test_runs_are_left_alone():
    hook = PretrainedCheckHook()
    hook.before_run(_runner('', training=False))
    assert hook.loads == []


def test_training_run_is_checked_and_verified(tmp_path):
    hook = PretrainedCheckHook()
    with pytest.raises(ValueError, match='needs a checkpoint'):
        hook.before_run(_runner('', training=True))

    src = ResNet(depth=18)
    torch.nn.init.normal_(src.conv1.weight)
    path = str(tmp_path / 'r18.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in src.state_dict().items()}}, path)
    runner = _runner(path, training=True)
    hook.before_run(runner)
    assert [load.name for load in hook.loads] == ['']
    runner.model.init_weights()
    hook.before_train(runner)  # raises if a tensor differs
    assert torch.equal(runner.model.conv1.weight, src.conv1.weight)
    with torch.no_grad():
        runner.model.conv1.weight.add_(1)
    with pytest.raises(RuntimeError, match='conv1.weight'):
        hook.before_train(runner)
    # a run that starts from load_from replaces the weights: not verified
    runner.cfg.load_from = 'work_dirs/x/epoch_3.pth'
    hook.before_train(runner)
