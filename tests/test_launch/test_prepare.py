import pytest

from maskssl.launch.prepare import load_config


def test_load_config_warns_and_merges(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr('maskssl.launch.prepare.print_log',
                        lambda msg, **kw: logged.append((msg, kw['level'])))
    path = tmp_path / 'cfg.py'
    path.write_text("model = dict(backbone=dict(depth=50))\n")
    cfg = load_config(str(path), {'model.backbon.depth': 18,
                                  'model.backbone.depth': 34})
    assert cfg.model.backbone.depth == 34
    assert len(logged) == 1
    assert 'model.backbon.depth' in logged[0][0] and logged[0][1] == 30


def test_load_config_missing_file():
    with pytest.raises(FileNotFoundError, match='no/such/config.py'):
        load_config('no/such/config.py')
