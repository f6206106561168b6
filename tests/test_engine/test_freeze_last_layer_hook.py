"""FreezeLastLayerHook: the projection head's last layer gets no update in
the first epoch, with plain, AMP and dict optimizer wrappers, alongside
DivergenceGuardHook."""
import copy
import uuid
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from mmengine.runner import IterBasedTrainLoop, Runner
from torch import nn
from torch.utils.data import DataLoader

from maskssl.engine.hooks import DivergenceGuardHook, FreezeLastLayerHook
from maskssl.engine.hooks.freeze_last_layer_hook import params_under
from test_engine.tiny_runner import FixedData

LAST = ('neck.last_layer.weight', 'neck.last_layer.bias')


class Neck(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.last_layer = nn.Linear(4, 1)


class TinyDINO(BaseModel):
    """backbone -> tanh -> neck.last_layer; squared error. ``nan_at``: the
    (0-based) iterations whose loss is NaN. With an ``OptimWrapperDict`` one
    backward feeds every wrapper's step."""

    def __init__(self, nan_at=()) -> None:
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.neck = Neck()
        self.nan_at, self.calls = list(nan_at), 0

    def forward(self, inputs, targets, mode: str = 'loss'):
        out = self.neck.last_layer(torch.tanh(self.backbone(inputs)))
        loss = ((out.float() - targets)**2).mean()
        if self.calls in self.nan_at:
            loss = loss * float('nan')
        self.calls += 1
        return dict(loss=loss)

    def train_step(self, data, optim_wrapper):
        if not isinstance(optim_wrapper, OptimWrapperDict):
            return super().train_step(data, optim_wrapper)
        loss, log_vars = self.parse_losses(self(**data))
        optim_wrapper['backbone'].backward(loss)
        for wrapper in optim_wrapper.values():
            wrapper.step()
            wrapper.zero_grad()
        return log_vars


class Snapshot(Hook):
    """The weights, and the names of the parameters that have optimizer
    state, before every iteration and after training."""

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self.weights, self.with_state = {}, {}

    def _take(self, runner, key) -> None:
        self.weights[key] = copy.deepcopy(runner.model.state_dict())
        wrappers = runner.optim_wrapper
        wrappers = (list(wrappers.values()) if isinstance(
            wrappers, OptimWrapperDict) else [wrappers])
        self.with_state[key] = {
            name for name, p in runner.model.named_parameters()
            if any(p in w.optimizer.state for w in wrappers)}

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._take(runner, runner.iter)

    def after_train(self, runner) -> None:
        self._take(runner, 'end')


def adamw(params) -> torch.optim.AdamW:
    return torch.optim.AdamW(params, lr=0.01, weight_decay=0.04)


def build_wrapper(kind: str, model: TinyDINO, monkeypatch):
    if kind == 'dict':
        return dict(backbone=OptimWrapper(adamw(model.backbone.parameters())),
                    neck=OptimWrapper(adamw(model.neck.parameters())))
    if kind == 'amp':
        # AmpOptimWrapper insists on an accelerator; on CPU give it torch's
        # CPU gradient scaler, with clipping so that unscale_ runs too
        monkeypatch.setattr('mmengine.optim.optimizer.amp_optimizer_wrapper.'
                            'is_cuda_available', lambda: True)
        wrapper = AmpOptimWrapper(optimizer=adamw(model.parameters()),
                                  clip_grad=dict(max_norm=100.0))
        wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=256.0)
        return wrapper
    return OptimWrapper(adamw(model.parameters()))


def run(work_dir, model, optim_wrapper, hooks, max_epochs=2) -> Runner:
    """4 iterations per epoch (FixedData, batch 2), no checkpoints."""
    runner = Runner(
        model=model, work_dir=str(work_dir),
        train_dataloader=DataLoader(FixedData(), batch_size=2),
        optim_wrapper=optim_wrapper,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=None), custom_hooks=hooks,
        default_scope='mmpretrain',
        experiment_name=f'freeze_{uuid.uuid4().hex}')
    runner.train()
    return runner


def changed(a: dict, b: dict, names) -> list:
    return [n for n in names if not torch.equal(a[n], b[n])]


@pytest.mark.parametrize('kind', ['plain', 'amp', 'dict', 'with_guard'])
def test_last_layer_fixed_in_epoch_0_then_trained(tmp_path, kind,
                                                  monkeypatch):
    model = TinyDINO(nan_at=[2] if kind == 'with_guard' else [])
    snap = Snapshot()
    hooks = [FreezeLastLayerHook(), snap]
    if kind == 'with_guard':
        hooks.append(DivergenceGuardHook(max_skips=1))
    wrapper = build_wrapper(kind, model, monkeypatch)
    run(tmp_path, model, wrapper, hooks)
    if kind == 'amp':  # the scaled path really ran
        assert wrapper.loss_scaler.is_enabled()
        assert wrapper.loss_scaler.get_scale() == 256.0
    w = snap.weights
    others = ('backbone.weight', 'backbone.bias')
    # epoch 0 = iterations 0..3: the last layer is bit-identical, and has no
    # AdamW state (no moments, no weight decay applied), the rest moved
    for i in range(1, 5):
        assert changed(w[0], w[i], LAST) == [], i
        assert not snap.with_state[i] & set(LAST), i
    assert changed(w[0], w[4], others) == list(others)
    assert set(others) <= snap.with_state[4]
    # epoch 1: it trains
    assert changed(w[4], w[5], LAST) == list(LAST)
    assert changed(w[5], w['end'], LAST) == list(LAST)
    assert set(LAST) <= snap.with_state['end']
    if kind == 'with_guard':  # the NaN step 2 was skipped altogether
        assert changed(w[2], w[3], others) == []
        assert changed(w[1], w[2], others) == list(others)


def test_epochs_0_trains_last_layer_from_the_start(tmp_path, monkeypatch):
    model, snap = TinyDINO(), Snapshot()
    run(tmp_path, model, build_wrapper('plain', model, monkeypatch),
        [FreezeLastLayerHook(epochs=0), snap], max_epochs=1)
    assert changed(snap.weights[0], snap.weights[1], LAST) == list(LAST)


def test_epochs_2_keeps_it_fixed_for_two_epochs(tmp_path, monkeypatch):
    model, snap = TinyDINO(), Snapshot()
    run(tmp_path, model, build_wrapper('plain', model, monkeypatch),
        [FreezeLastLayerHook(epochs=2, prefix='neck.last_layer.weight'),
         snap], max_epochs=3)
    w = snap.weights
    assert changed(w[0], w[8], LAST) == ['neck.last_layer.bias']
    assert changed(w[8], w[9], LAST) == list(LAST)


def test_params_under_matches_whole_names():
    model = nn.Module()
    model.neck = nn.Module()
    model.neck.last_layer = nn.Linear(2, 2)
    model.neck.last_layer_norm = nn.LayerNorm(2)
    assert list(params_under(model, 'neck.last_layer')) == [
        'neck.last_layer.weight', 'neck.last_layer.bias']
    assert list(params_under(model, 'neck.last_layer.bias')) == [
        'neck.last_layer.bias']
    assert params_under(model, 'neck.last') == {}


def test_unknown_prefix_fails_before_training(monkeypatch):
    model = TinyDINO()
    runner = SimpleNamespace(model=model, train_loop=object(),
                             optim_wrapper=build_wrapper('plain', model,
                                                         monkeypatch))
    with pytest.raises(ValueError, match=r"prefix='neck\.head_out' matches "
                       r'no parameter of TinyDINO.*parameters '
                       r"\['backbone', 'neck'\]$"):
        FreezeLastLayerHook(prefix='neck.head_out').before_train(runner)


def test_iteration_based_loop_is_refused():
    runner = SimpleNamespace(model=TinyDINO(),
                             train_loop=object.__new__(IterBasedTrainLoop))
    with pytest.raises(ValueError, match='FreezeLastLayerHook follows '
                       'runner.epoch and needs an epoch-based train loop'):
        FreezeLastLayerHook().before_train(runner)


@pytest.mark.parametrize('kwargs, match', [
    (dict(epochs=-1), 'epochs=-1'), (dict(epochs=1.5), 'epochs=1.5'),
    (dict(epochs=True), 'epochs=True'), (dict(epochs='1'), "epochs='1'"),
    (dict(prefix=''), "prefix=''"), (dict(prefix=None), 'prefix=None'),
])
def test_bad_args(kwargs, match):
    with pytest.raises(ValueError, match=f'^FreezeLastLayerHook: {match} '):
        FreezeLastLayerHook(**kwargs)
