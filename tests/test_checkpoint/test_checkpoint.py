import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from torch import nn

from maskssl.checkpoint import (describe_state_mismatch, load_backbone_weights,
                                save_atomic, write_file)


def _training_checkpoint(model: nn.Module) -> dict:
    """What mmengine's Runner writes: weights plus a message hub holding
    HistoryBuffers of numpy data, numpy scalars and dtypes."""
    hub = MessageHub('test_ckpt_hub')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/lr', 0.1)
    hub.update_info('iter', np.int64(3))
    hub.update_info('dtype', np.dtype('float32'))
    return dict(meta=dict(epoch=1, seed=np.int64(0)),
                state_dict=model.state_dict(),
                message_hub=hub.state_dict())


def test_training_checkpoint_loads_with_weights_only(tmp_path):
    import maskssl  # noqa: F401  (allow-lists the types)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    path = tmp_path / 'epoch_1.pth'
    torch.save(_training_checkpoint(model), path)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    hub = ckpt['message_hub']
    assert isinstance(hub['log_scalars']['train/loss'], HistoryBuffer)
    assert hub['log_scalars']['train/loss'].current() == 0.5
    assert hub['runtime_info']['dtype'] == np.dtype('float32')


class _NotAllowed:
    pass


def test_arbitrary_objects_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _NotAllowed()}, path)
    with pytest.raises(Exception, match='weights_only'):
        torch.load(path, weights_only=True)


class _Backbone(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn1 = nn.BatchNorm2d(4)


def test_load_backbone_from_raw_and_extracted(tmp_path):
    src = _Backbone()
    nn.init.normal_(src.conv1.weight)
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state.update({'target_net.0.conv1.weight': torch.zeros(4, 3, 3, 3),
                  'neck.fc.weight': torch.zeros(2, 2)})
    raw = tmp_path / 'raw.pth'
    torch.save(dict(state_dict=state), raw)
    dst = _Backbone()
    assert load_backbone_weights(dst, str(raw)) == len(src.state_dict())
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key

    extracted = tmp_path / 'backbone.pth'
    torch.save(src.state_dict(), extracted)
    dst2 = _Backbone()
    load_backbone_weights(dst2, str(extracted))
    assert torch.equal(dst2.conv1.weight, src.conv1.weight)


def test_load_backbone_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_backbone_weights(_Backbone(), str(tmp_path / 'missing.pth'))
    wrong = tmp_path / 'detector.pth'
    torch.save(dict(state_dict={'roi_head.fc.weight': torch.zeros(2, 2)}),
               wrong)
    with pytest.raises(KeyError, match=r'detector.pth.*6 missing keys.*1 unexpected'):
        load_backbone_weights(_Backbone(), str(wrong))


def test_describe_state_mismatch_names_missing_unexpected_and_shapes():
    own = {'a': torch.zeros(2), 'b': torch.zeros(3), 'c': torch.zeros(1)}
    assert describe_state_mismatch(own, dict(own)) == ''
    state = {'a': torch.zeros(2), 'b': torch.zeros(4), 'd': torch.zeros(1)}
    assert describe_state_mismatch(own, state) == (
        "1 missing keys ['c'], 1 unexpected keys ['d'], 1 shapes differ "
        "(checkpoint vs model) ['b (4,) vs (3,)']")


def test_save_atomic_with_write_file_text_and_bytes(tmp_path):
    text, data = 'work_dir/epoch_3.pth\n', bytes(range(256))
    save_atomic(text, str(tmp_path / 'last_checkpoint'), save=write_file)
    save_atomic(data, str(tmp_path / 'sub' / 'model.pth'), save=write_file)
    assert (tmp_path / 'last_checkpoint').read_text() == text
    assert (tmp_path / 'sub' / 'model.pth').read_bytes() == data
    # no temporary file is left next to the results
    assert sorted(p.name for p in tmp_path.rglob('*')) == [
        'last_checkpoint', 'model.pth', 'sub']


def test_save_atomic_keeps_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / 'last_checkpoint'
    target.write_text('old\n')
    with pytest.raises(TypeError):
        save_atomic(3, str(target), save=write_file)  # not str nor bytes
    assert target.read_text() == 'old\n'
    assert [p.name for p in tmp_path.iterdir()] == ['last_checkpoint']
