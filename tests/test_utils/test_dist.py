from mmengine.config import Config

from maskssl.utils import adapt_cfg_to_cpu


def test_sync_bn_replaced_everywhere_and_wrapper_set():
    cfg = Config(dict(
        model=dict(backbone=dict(norm_cfg=dict(type='SyncBN',
                                               requires_grad=True)),
                   neck=dict(norm_cfg=dict(type='MMSyncBN')),
                   heads=[dict(norm_cfg=dict(type='BN'))]),
        sync_bn='torch'))
    changes = adapt_cfg_to_cpu(cfg, distributed=True)
    assert cfg.model.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert cfg.model.neck.norm_cfg.type == 'BN'
    assert cfg.model.heads[0].norm_cfg.type == 'BN'
    assert cfg.sync_bn is None
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert any('model.backbone.norm_cfg' in c for c in changes)


def test_non_distributed_leaves_wrapper_alone():
    cfg = Config(dict(model=dict(norm_cfg=dict(type='BN'))))
    assert adapt_cfg_to_cpu(cfg, distributed=False) == []
    assert 'model_wrapper_cfg' not in cfg
