"""check_resume, resume_source and is_finished on hand-made checkpoints."""
import pytest
import torch
from mmengine.config import ConfigDict
from torch import nn

from maskssl.launch import (ResumeError, check_resume, is_finished,
                            resume_source)


class Net(nn.Module):

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(2, width)
        self.bn = nn.BatchNorm1d(width)


def _training_ckpt(path, model: nn.Module, **meta) -> str:
    torch.save(dict(meta=dict(epoch=1, iter=6, **meta),
                    state_dict=model.state_dict(),
                    optimizer=dict(state={}, param_groups=[]),
                    message_hub=dict(log_scalars={}, runtime_info={})), path)
    return str(path)


def test_accepts_a_matching_training_checkpoint(tmp_path):
    path = _training_ckpt(tmp_path / 'epoch_1.pth', Net(), model_type='Net')
    assert check_resume(path, Net())['epoch'] == 1


def test_text_file(tmp_path):
    path = tmp_path / 'notes.pth'
    path.write_text('hello')
    with pytest.raises(ResumeError,
                       match=r'--resume: .*notes.pth: not a PyTorch'):
        check_resume(str(path), Net())


def test_backbone_only_file(tmp_path):
    path = tmp_path / 'backbone.pth'
    torch.save(dict(meta={}, state_dict=Net().state_dict()), path)
    with pytest.raises(ResumeError, match=r'backbone.pth is not a training '
                       r'checkpoint \(it has no optimizer / message_hub'):
        check_resume(str(path), Net())


def test_other_algorithm(tmp_path):
    path = _training_ckpt(tmp_path / 'e.pth', Net(), model_type='BYOL')
    with pytest.raises(ResumeError,
                       match='e.pth is a checkpoint of BYOL, this config '
                       'trains Net'):
        check_resume(path, Net())


def test_other_shapes(tmp_path):
    path = _training_ckpt(tmp_path / 'e.pth', Net(width=4))
    with pytest.raises(ResumeError, match=r'"fc.weight" has shape \(4, 2\) '
                       r'in the checkpoint and \(3, 2\) in the model'):
        check_resume(path, Net())


def test_missing_and_unexpected_tensors(tmp_path):
    state = Net().state_dict()
    weight = state.pop('bn.weight')
    path = tmp_path / 'e.pth'
    torch.save(dict(meta={}, state_dict=state, optimizer={},
                    message_hub={}), path)
    with pytest.raises(ResumeError,
                       match=r'it has no "bn.weight" \(1 of 7 tensors'):
        check_resume(str(path), Net())
    state['bn.weight'] = weight
    state['head.extra'] = torch.zeros(1)
    torch.save(dict(meta={}, state_dict=state, optimizer={},
                    message_hub={}), path)
    with pytest.raises(ResumeError, match=r'it has "head.extra" \(1 tensors'):
        check_resume(str(path), Net())


def test_non_finite_checkpoint(tmp_path):
    model = Net()
    with torch.no_grad():
        model.fc.bias[1] = float('nan')
    path = _training_ckpt(tmp_path / 'e.pth', model)
    with pytest.raises(ResumeError, match=r'tensor "fc.bias" has 1 NaN'):
        check_resume(path, Net())


def test_resume_source(tmp_path):
    cfg = ConfigDict(resume=False, load_from=None, work_dir=str(tmp_path))
    assert resume_source(cfg) is None
    cfg.resume = True
    assert resume_source(cfg) is None  # nothing in the work dir
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    assert resume_source(cfg) == str(tmp_path / 'epoch_3.pth')
    cfg.load_from = 'x.pth'
    assert resume_source(cfg) == 'x.pth'


def test_is_finished():
    assert is_finished(dict(epoch=10, iter=620), dict(max_epochs=10))
    assert not is_finished(dict(epoch=9, iter=558), dict(max_epochs=10))
    assert is_finished(dict(epoch=0, iter=500), dict(max_iters=500))
    assert not is_finished(dict(epoch=0, iter=499), dict(max_iters=500))
