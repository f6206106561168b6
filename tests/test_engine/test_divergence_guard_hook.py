"""DivergenceGuardHook: a non-finite loss or gradient is never stepped on;
the run stops, or skips up to ``max_skips`` such steps."""
import copy

import pytest
import torch
from mmengine.hooks import Hook

from maskssl.engine.hooks import DivergenceError, DivergenceGuardHook
from maskssl.engine.hooks.divergence_guard_hook import (SKIPPED_KEY,
                                                        non_finite_grad)
from test_engine.tiny_runner import LinearModel, tiny_runner


class Snapshot(Hook):
    """Records the weights before every iteration."""

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self.before = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.before[runner.iter] = copy.deepcopy(
            runner.model.state_dict())


@pytest.mark.parametrize('bad', ['nan_at', 'inf_grad_at'])
def test_stops_at_first_bad_step_without_taking_it(tmp_path, bad):
    snap = Snapshot()
    model = LinearModel(**{bad: [5]})
    runner = tiny_runner(str(tmp_path), max_epochs=3, model=model,
                         custom_hooks=[DivergenceGuardHook(), snap])
    reason = ('the loss is not finite' if bad == 'nan_at' else
              'the gradient of "linear.weight" holds 4 NaN/inf')
    with pytest.raises(DivergenceError,
                       match=rf'iteration 6 \(epoch 2\): {reason}.*'
                       r'loss terms: loss=.*, aux=1.5'):
        runner.train()
    # the weights are those before the bad iteration (index 5), all finite
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, snap.before[5][key]), key
        assert torch.isfinite(value).all()
    # the good steps before it were taken
    assert not torch.equal(snap.before[5]['linear.weight'],
                           snap.before[0]['linear.weight'])
    # epoch 1's checkpoint is the last one, nothing later was written
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_1.pth']


def test_skips_up_to_max_skips(tmp_path):
    snap = Snapshot()
    runner = tiny_runner(str(tmp_path), max_epochs=2,
                         model=LinearModel(nan_at=[1], inf_grad_at=[6]),
                         custom_hooks=[DivergenceGuardHook(max_skips=2), snap])
    runner.train()
    assert runner.message_hub.get_info(SKIPPED_KEY) == 2
    # a skipped step leaves the weights alone, a good one moves them
    weight = [snap.before[i]['linear.weight'] for i in range(8)]
    assert torch.equal(weight[1], weight[2])
    assert torch.equal(weight[6], weight[7])
    assert not torch.equal(weight[2], weight[3])
    assert torch.isfinite(runner.model.linear.weight).all()


def test_third_bad_step_with_max_skips_2_stops(tmp_path):
    runner = tiny_runner(str(tmp_path), max_epochs=2,
                         model=LinearModel(nan_at=[0, 2, 4]),
                         custom_hooks=[DivergenceGuardHook(max_skips=2)])
    with pytest.raises(DivergenceError, match=r'iteration 5 .*3 bad step'):
        runner.train()


def test_non_finite_grad_names_first_parameter():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([a, b], lr=0.1)
    names = {id(a): 'a', id(b): 'b'}
    assert non_finite_grad(opt, names) is None  # no gradients yet
    a.grad = torch.zeros(2)
    b.grad = torch.tensor([1.0, float('inf'), float('nan')])
    assert non_finite_grad(opt, names) == ('the gradient of "b" holds 2 '
                                           'NaN/inf values')
    b.grad = torch.ones(3)
    assert non_finite_grad(opt, names) is None


@pytest.mark.parametrize('value', [-1, 1.5, True, 'x'])
def test_bad_max_skips(value):
    with pytest.raises(ValueError, match=f'max_skips={value!r}'):
        DivergenceGuardHook(max_skips=value)
