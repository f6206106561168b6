"""SafeCheckpointHook: atomic writes, old checkpoints removed only after the
new one is complete, no checkpoint of non-finite weights."""
import errno
import os
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook

from maskssl.engine.hooks import SafeCheckpointHook
from test_engine.tiny_runner import tiny_runner


def _files(work_dir) -> set:
    return {n for n in os.listdir(work_dir) if n.endswith(('.pth', '.tmp'))}


def _last(work_dir) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.basename(f.read())


def _load(path) -> dict:
    return torch.load(path, map_location='cpu', weights_only=True)


def test_keeps_max_keep_ckpts_and_records_model_type(tmp_path):
    runner = tiny_runner(str(tmp_path), max_epochs=3, checkpoint=dict(
        type='SafeCheckpointHook', interval=1, max_keep_ckpts=2))
    runner.train()
    assert _files(tmp_path) == {'epoch_2.pth', 'epoch_3.pth'}
    assert _last(tmp_path) == 'epoch_3.pth'
    ckpt = _load(tmp_path / 'epoch_3.pth')
    assert ckpt['meta']['model_type'] == 'LinearModel'
    assert ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] == [2, 3]
    # the file holds the model as it was after epoch 3
    torch.testing.assert_close(ckpt['state_dict']['linear.weight'],
                               runner.model.linear.weight.detach())


def test_mode_follows_umask(tmp_path):
    old = os.umask(0o027)
    try:
        tiny_runner(str(tmp_path), max_epochs=1).train()
    finally:
        os.umask(old)
    assert (tmp_path / 'epoch_1.pth').stat().st_mode & 0o777 == 0o640


class FailingWrite(SafeCheckpointHook):
    """Writes half of the checkpoint of epoch ``fail_at``, then fails as a
    full disk does."""

    def __init__(self, fail_at: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fail_at = fail_at

    def _write(self, runner, tmp_name, meta) -> None:
        super()._write(runner, tmp_name, meta)
        if runner.epoch + 1 == self.fail_at:
            path = osp.join(self.out_dir, tmp_name)
            os.truncate(path, os.path.getsize(path) // 2)
            raise OSError(errno.EFBIG, 'File too large', path)


def test_failed_write_keeps_previous_checkpoint(tmp_path):
    hook = FailingWrite(fail_at=2, interval=1, max_keep_ckpts=1)
    runner = tiny_runner(str(tmp_path), max_epochs=3, checkpoint=hook)
    with pytest.raises(OSError, match='File too large'):
        runner.train()
    assert _files(tmp_path) == {'epoch_1.pth'}  # no temporary file left
    assert _last(tmp_path) == 'epoch_1.pth'
    assert _load(tmp_path / 'epoch_1.pth')['meta']['epoch'] == 1


class Poison(Hook):
    """Turns one weight NaN after epoch ``at`` (before the checkpoint hook,
    whose priority is lower)."""

    priority = 'HIGHEST'

    def __init__(self, at: int) -> None:
        self.at = at

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == self.at:
            with torch.no_grad():
                runner.model.linear.bias.fill_(float('nan'))


def test_refuses_non_finite_weights(tmp_path):
    runner = tiny_runner(str(tmp_path), max_epochs=3,
                         custom_hooks=[Poison(at=2)])
    with pytest.raises(RuntimeError,
                       match=r'epoch_2.pth: the weight "linear.bias" holds '
                       r'1 NaN/inf'):
        runner.train()
    assert _files(tmp_path) == {'epoch_1.pth'}
    assert _last(tmp_path) == 'epoch_1.pth'


def test_removes_temporary_files_of_a_killed_run(tmp_path):
    (tmp_path / '.epoch_7.pth.tmp').write_bytes(b'half a checkpoint')
    (tmp_path / '.notes.tmp').write_text('not ours')
    tiny_runner(str(tmp_path), max_epochs=1).train()
    assert not (tmp_path / '.epoch_7.pth.tmp').exists()
    assert (tmp_path / '.notes.tmp').exists()
    assert _files(tmp_path) == {'epoch_1.pth', '.notes.tmp'}
