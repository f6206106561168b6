"""DINO's weight decay schedule (cosine 0.04 -> 0.4, per iteration) is
mmengine's CosineAnnealingParamScheduler with eta_min_ratio=10; groups
without weight decay (norms, biases) stay at 0. No code of ours: the
configs use this scheduler, and this test pins down that it does the job."""
import math
import uuid

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim import CosineAnnealingParamScheduler
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader

from test_engine.tiny_runner import FixedData

WD, WD_END = 0.04, 0.4


def wd_scheduler_cfg(epochs: int) -> dict:
    return dict(type='CosineAnnealingParamScheduler',
                param_name='weight_decay', eta_min_ratio=WD_END / WD,
                by_epoch=True, begin=0, end=epochs,
                convert_to_iter_based=True)


def dino_wd(it: int, total: int) -> float:
    """DINO's ``utils.cosine_scheduler(0.04, 0.4, epochs, niter_per_ep)``
    at iteration ``it`` of ``total``, by hand."""
    return WD_END + 0.5 * (WD - WD_END) * (1 + math.cos(math.pi * it / total))


class NormModel(BaseModel):
    """linear (weight, bias) -> LayerNorm -> out; squared error."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.out = nn.Linear(4, 1, bias=False)

    def forward(self, inputs, targets, mode: str = 'loss'):
        pred = self.out(self.norm(self.linear(inputs)))
        return dict(loss=((pred - targets)**2).mean())


class WDRecorder(Hook):
    """The weight decay of every parameter (by name) at every iteration."""

    def __init__(self) -> None:
        self.rows = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        names = {id(p): n for n, p in runner.model.named_parameters()}
        self.rows.append({
            names[id(p)]: group['weight_decay']
            for group in runner.optim_wrapper.optimizer.param_groups
            for p in group['params']})


def test_cosine_weight_decay_per_iteration_and_zero_groups_stay_zero(
        tmp_path):
    epochs, per_epoch = 3, 4  # FixedData: 8 samples, batch 2
    recorder = WDRecorder()
    Runner(model=NormModel(), work_dir=str(tmp_path),
           train_dataloader=DataLoader(FixedData(), batch_size=2),
           optim_wrapper=dict(
               optimizer=dict(type='AdamW', lr=1e-3, weight_decay=WD),
               paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0)),
           param_scheduler=[wd_scheduler_cfg(epochs)],
           train_cfg=dict(by_epoch=True, max_epochs=epochs),
           default_hooks=dict(checkpoint=None), custom_hooks=[recorder],
           default_scope='mmpretrain',
           experiment_name=f'wd_{uuid.uuid4().hex}').train()
    total = epochs * per_epoch
    assert len(recorder.rows) == total
    for it, row in enumerate(recorder.rows):
        # a new value every iteration, DINO's formula
        for name in ('linear.weight', 'out.weight'):
            assert row[name] == pytest.approx(dino_wd(it, total), rel=1e-12)
        for name in ('linear.bias', 'norm.weight', 'norm.bias'):
            assert row[name] == 0.0
    assert recorder.rows[0]['out.weight'] == WD
    assert recorder.rows[1]['out.weight'] > WD
    assert recorder.rows[-1]['out.weight'] == pytest.approx(
        dino_wd(total - 1, total))


def test_no_drift_over_a_long_schedule():
    """The scheduler is recursive (chainable); over 100 epochs of 50
    iterations it still matches the closed form."""
    decayed, plain = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(1))
    optimizer = torch.optim.AdamW([
        dict(params=[decayed]), dict(params=[plain], weight_decay=0.0)
    ], lr=1e-3, weight_decay=WD)
    epochs, per_epoch = 100, 50
    scheduler = CosineAnnealingParamScheduler.build_iter_from_epoch(
        optimizer, param_name='weight_decay', eta_min_ratio=WD_END / WD,
        begin=0, end=epochs, epoch_length=per_epoch)
    total = epochs * per_epoch
    for it in range(total):
        groups = optimizer.param_groups
        assert groups[0]['weight_decay'] == pytest.approx(
            dino_wd(it, total), rel=1e-9), it
        assert groups[1]['weight_decay'] == 0.0
        optimizer.step()  # no gradients: a no-op, in the order torch wants
        scheduler.step()
