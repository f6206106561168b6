from mmengine.config import Config

from maskssl.utils import iter_cfg_dicts


def test_iter_cfg_dicts_order_and_nesting():
    cfg = dict(a=dict(b=[dict(c=1), (dict(d=2), 3)]), e='x')
    found = list(iter_cfg_dicts(cfg))
    assert found == [cfg, cfg['a'], dict(c=1), dict(d=2)]
    assert found[2] is cfg['a']['b'][0]


def test_iter_cfg_dicts_config_and_in_place_changes():
    cfg = Config(dict(pipeline=[dict(type='RandomCrop', crop_size=224)]))
    for node in iter_cfg_dicts(cfg.pipeline):
        node['crop_size'] = 112
    assert cfg.pipeline[0].crop_size == 112
    assert list(iter_cfg_dicts(3)) == []
