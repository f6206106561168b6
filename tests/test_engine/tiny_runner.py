"""A tiny mmengine Runner (a linear model on fixed data) for hook tests."""
import uuid
from typing import Dict, List, Optional

import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset


class LinearModel(BaseModel):
    """``y = w x + b``; loss ``mean((y - t)^2)``. ``nan_at`` and
    ``inf_grad_at`` make the loss NaN, or keep it finite with a NaN
    gradient, at the given (0-based) iterations."""

    def __init__(self, nan_at: List[int] = (), inf_grad_at: List[int] = ()):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)
        self.nan_at, self.inf_grad_at = list(nan_at), list(inf_grad_at)
        self.calls = 0

    def forward(self, inputs, targets, mode: str = 'loss'):
        out = self.linear(inputs)
        loss = ((out - targets)**2).mean()
        step, self.calls = self.calls, self.calls + 1
        if step in self.nan_at:
            loss = loss * float('nan')
        if step in self.inf_grad_at:
            # finite loss (0) whose gradient is 0 * inf = NaN
            loss = loss + torch.sqrt(self.linear.weight.sum() * 0).squeeze()
        return dict(loss=loss, aux=torch.tensor(1.5))


class FixedData(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, idx: int) -> Dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(idx)
        x = torch.randn(4, generator=gen)
        return dict(inputs=x, targets=x.sum(0, keepdim=True))


def tiny_runner(work_dir: str, max_epochs: int = 2,
                custom_hooks: Optional[list] = None,
                checkpoint: Optional[dict] = None,
                model: Optional[BaseModel] = None, **kwargs) -> Runner:
    """4 iterations per epoch of batch 2, SGD lr 0.01, ``SafeCheckpointHook``
    every epoch keeping one checkpoint (``checkpoint`` overrides)."""
    return Runner(
        model=model or LinearModel(),
        work_dir=work_dir,
        train_dataloader=DataLoader(FixedData(), batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=checkpoint or dict(
            type='SafeCheckpointHook', interval=1, max_keep_ckpts=1)),
        custom_hooks=custom_hooks,
        default_scope='mmpretrain',
        # unique: runners made in the same second would share the message
        # hub that mmengine names after the timestamp
        experiment_name=f'tiny_{uuid.uuid4().hex}',
        **kwargs)
