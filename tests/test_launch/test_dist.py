import torch
from mmengine.config import Config
from mmpretrain.registry import MODEL_WRAPPERS
from torch import nn

from maskssl.launch import adapt_cfg_to_cpu, close_dist


def test_distributed_cpu_config():
    cfg = Config(dict(model=dict(norm_cfg=dict(type='SyncBN')),
                      sync_bn='torch', find_unused_parameters=True))
    changes = adapt_cfg_to_cpu(cfg, distributed=True)
    assert cfg.sync_bn is None
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='mmpretrain.CPUDistributedDataParallel',
                                         broadcast_buffers=False,
                                         find_unused_parameters=True)
    assert len(changes) == 2


def test_non_distributed_leaves_wrapper_alone():
    cfg = Config(dict(model=dict(norm_cfg=dict(type='BN'))))
    assert adapt_cfg_to_cpu(cfg, distributed=False) == []
    assert 'model_wrapper_cfg' not in cfg


def test_amp_becomes_fp32_on_cpu():
    """mmengine's AmpOptimWrapper asserts a GPU: the optim wrapper is
    rebuilt as a plain OptimWrapper that builds with the same optimizer."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config(dict(optim_wrapper=dict(
        type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16',
        optimizer=dict(type='AdamW', lr=1e-4), clip_grad=None)))
    changes = adapt_cfg_to_cpu(cfg, distributed=False)
    assert changes == ['AmpOptimWrapper -> OptimWrapper (fp32)']
    assert cfg.optim_wrapper == dict(type='OptimWrapper', clip_grad=None,
                                     optimizer=dict(type='AdamW', lr=1e-4))
    wrapper = build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)
    assert type(wrapper).__name__ == 'OptimWrapper'
    assert wrapper.optimizer.defaults['lr'] == 1e-4


def test_cpu_wrapper_reverts_sync_bn(tmp_path, monkeypatch):
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', '29531')
    torch.distributed.init_process_group('gloo', rank=0, world_size=1,
                                         init_method=f'file://{tmp_path}/pg')
    try:
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.SyncBatchNorm(4))
        weight = model[1].weight
        wrapped = MODEL_WRAPPERS.build(
            dict(type='CPUDistributedDataParallel', module=model))
        norm = wrapped.module[1]
        assert type(norm).__name__ == '_BatchNormXd'
        assert torch.equal(norm.weight, weight)
        out = wrapped(torch.randn(2, 3, 8, 8))  # SyncBN would raise on CPU
        assert out.shape == (2, 4, 6, 6)
    finally:
        torch.distributed.destroy_process_group()


def test_close_dist_destroys_the_group_and_is_a_no_op_without(tmp_path):
    close_dist()  # no group: nothing to do, no error
    torch.distributed.init_process_group('gloo', rank=0, world_size=1,
                                         init_method=f'file://{tmp_path}/pg')
    try:
        assert torch.distributed.is_initialized()
        close_dist()
        assert not torch.distributed.is_initialized()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    close_dist()  # twice: still a no-op
