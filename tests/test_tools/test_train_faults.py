"""The faults of issue 10 reproduced end to end with tools/train.py on a tiny
MaskDeep config: a kill during a checkpoint save, a full disk, a diverged
run, a second run into a locked work dir, and ``--resume`` of what cannot be
resumed. One uninterrupted run (``reference``) is shared by the tests: the
runs that resume its epoch_1.pth must end with its epoch_2.pth weights."""
import filecmp
import hashlib
import os
import os.path as osp
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from conftest import PYTHON, REPO
from maskssl.launch import WorkDirLock
from test_tools.test_model_converters import load_tool
from test_tools.test_train_tools import (_checkpoint, _run, _run_failing,
                                         _tiny_config, _weights)

# modules the subprocesses import from their config (custom_imports): the
# test-only SlowCheckpointHookForTests of slow_checkpoint_hook.py
HELPERS = osp.join(REPO, 'tests', 'helpers')
TRAIN = [PYTHON, osp.join(REPO, 'tools/train.py')]
# the fault runs keep one checkpoint, as the toy configs do: mmengine's
# CheckpointHook deleted epoch_1.pth before it wrote epoch_2.pth
KEEP_ONE = 'default_hooks.checkpoint.max_keep_ckpts=1'
# a full disk for the checkpoint (34 MB), not for the logs and the config
FILE_SIZE_LIMIT = 2 << 20
# what the file-size limit gives (EFBIG) where the checkpoint is written
FILE_TOO_LARGE = 'OSError: [Errno 27] File too large'
MARKER_WAIT_S = 300


def _train(cfg, work_dir, *args, options=()) -> list:
    """The tools/train.py command line; dataloading in the main process."""
    return TRAIN + [str(cfg), '--work-dir', str(work_dir), *args,
                    '--cfg-options', 'train_dataloader.num_workers=0',
                    *options]


def _output(proc) -> str:
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def reference(tmp_path_factory, toy_root):
    """The tiny MaskDeep config and its uninterrupted two-epoch run."""
    tmp = tmp_path_factory.mktemp('reference')
    cfg = _tiny_config(tmp, toy_root, 'maskdeep')
    work = tmp / 'work'
    _run(_train(cfg, work))
    assert (work / 'epoch_1.pth').is_file()
    assert (work / 'epoch_2.pth').is_file()
    return SimpleNamespace(cfg=cfg, work=work, epoch_1=work / 'epoch_1.pth',
                           epoch_2=work / 'epoch_2.pth')


def _stopped_after_epoch_1(reference, work_dir) -> str:
    """Make ``work_dir`` what a run that keeps one checkpoint (KEEP_ONE)
    leaves when it stops after epoch 1: the reference epoch_1.pth, with
    ``keep_ckpt_ids`` = [1] (so that the resumed run's epoch 2 save would
    remove it), and ``last_checkpoint`` naming it. A new file, not a hard
    link: a write in place (the fault under test) must not reach the file
    the other tests share.

    Returns:
        str: The SHA-256 of the new epoch_1.pth.
    """
    os.makedirs(work_dir)
    ckpt = _checkpoint(reference.epoch_1)
    ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] = [1]
    torch.save(ckpt, work_dir / 'epoch_1.pth')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    return _sha256(work_dir / 'epoch_1.pth')


def _sha256(path) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _assert_same_weights(a_path, b_path) -> None:
    a, b = _weights(a_path), _weights(b_path)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0,
                                   msg=key)


def _temporary_files(work_dir) -> list:
    return sorted(n for n in os.listdir(work_dir) if n.endswith('.tmp'))


def _assert_epoch_1_kept(work_dir, sha256: str) -> None:
    """epoch_1.pth is as it was (``sha256``), loads, has finite weights and
    is the last checkpoint; nothing of epoch 2 is left."""
    epoch_1 = work_dir / 'epoch_1.pth'
    assert _sha256(epoch_1) == sha256
    weights = _weights(epoch_1)
    assert all(torch.isfinite(v).all() for v in weights.values()
               if v.is_floating_point())
    assert (work_dir / 'last_checkpoint').read_text() == str(epoch_1)
    assert not (work_dir / 'epoch_2.pth').exists()
    assert _temporary_files(work_dir) == []


def _resume_exactly(reference, work_dir) -> None:
    """A bare ``--resume`` of ``work_dir`` ends with the reference's
    epoch 2."""
    _run(_train(reference.cfg, work_dir, '--resume'))
    _assert_same_weights(work_dir / 'epoch_2.pth', reference.epoch_2)


def _wait_for(path, proc, log, timeout: float = MARKER_WAIT_S) -> None:
    """Wait until ``path`` exists while ``proc`` runs."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f'the run ended (exit {proc.returncode}) before '
                        f'{path.name} appeared:\n{log.read_text()[-4000:]}')
        if time.monotonic() > deadline:
            pytest.fail(f'{path.name} did not appear in {timeout} s:\n'
                        f'{log.read_text()[-4000:]}')
        time.sleep(0.2)


@pytest.mark.slow
def test_kill_during_checkpoint_save(reference, tmp_path):
    """SIGKILL while epoch_2.pth is written: epoch_1.pth and
    last_checkpoint survive, and a bare --resume continues exactly."""
    marker = tmp_path / 'saving_epoch_2'
    cfg = tmp_path / 'slow_save.py'
    cfg.write_text(f'''
_base_ = [{reference.cfg!r}]
custom_imports = dict(imports=['maskssl', 'slow_checkpoint_hook'],
                      allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(type='SlowCheckpointHookForTests',
                                     marker={str(marker)!r}, slow_step=2))
''')
    work = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [HELPERS, os.environ.get('PYTHONPATH')])))
    log = tmp_path / 'killed_run.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            _train(cfg, work, options=[KEEP_ONE]), stdout=out,
            stderr=subprocess.STDOUT, cwd=REPO, env=env)
        try:
            _wait_for(marker, proc, log)
        finally:
            proc.send_signal(signal.SIGKILL)  # a no-op once it has ended
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # killed in the middle of the write: the half-written temporary file
    tmp = work / '.epoch_2.pth.tmp'
    assert 0 < tmp.stat().st_size < 0.6 * reference.epoch_2.stat().st_size
    epoch_1 = work / 'epoch_1.pth'
    assert _checkpoint(epoch_1)['meta']['epoch'] == 1
    assert (work / 'last_checkpoint').read_text() == str(epoch_1)
    assert not (work / 'epoch_2.pth').exists()
    _assert_same_weights(epoch_1, reference.epoch_1)

    killed = proc.pid
    proc = _run(_train(reference.cfg, work, '--resume'))
    out = _output(proc)
    # in the run's log file, not only on the console
    with open(sorted(work.glob('*/*.log'))[-1]) as f:
        assert 'ended without releasing its lock' in f.read()
    assert re.search(
        rf'{re.escape(str(work))}: the previous run \(pid {killed} on host '
        rf'{re.escape(socket.gethostname())}, started [^\n]*\) ended without '
        r'releasing its lock \(killed\?\); taking it over', out), out[-4000:]
    assert ('removed .epoch_2.pth.tmp, an incomplete checkpoint of an '
            'interrupted run') in out
    assert not tmp.exists()
    assert _temporary_files(work) == []
    assert 'resumed epoch: 1, iter: 6' in out
    _assert_same_weights(work / 'epoch_2.pth', reference.epoch_2)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE,
                       (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


@pytest.mark.slow
def test_full_disk_keeps_previous_checkpoint(reference, tmp_path):
    """A checkpoint that does not fit (RLIMIT_FSIZE, EFBIG) fails the run
    and leaves epoch_1.pth, last_checkpoint and no partial file."""
    work = tmp_path / 'work'
    sha256 = _stopped_after_epoch_1(reference, work)
    proc = _run_failing(_train(reference.cfg, work, '--resume',
                               options=[KEEP_ONE]),
                        preexec_fn=_limit_file_size)
    out = _output(proc)
    assert 'Epoch(train) [2][6/6]' in out  # failed at the save, not before
    assert FILE_TOO_LARGE in proc.stderr, proc.stderr[-4000:]
    _assert_epoch_1_kept(work, sha256)

    _resume_exactly(reference, work)


@pytest.mark.slow
def test_divergence_keeps_good_checkpoint(reference, tmp_path):
    """NaN loss in epoch 2: the run stops at that iteration with a non-zero
    exit, naming it and the loss terms; epoch_1.pth stays as it was.

    ``optim_wrapper.optimizer.lr=1e8`` (the issue's fault) does not reach a
    resumed run: mmengine restores the lr from the checkpoint's optimizer
    and scheduler state, and epoch 2 trains as the reference. A loss
    weight of 1e30 (not restored) scales the gradients as lr x 1e30 would
    scale SGD's step: one huge step at iteration 7, a NaN loss at 8."""
    work = tmp_path / 'work'
    sha256 = _stopped_after_epoch_1(reference, work)
    proc = _run_failing(_train(
        reference.cfg, work, '--resume',
        options=[KEEP_ONE, 'model.head.loss.loss_weight=1e30']))
    match = re.search(
        r'DivergenceError: training diverged at iteration (\d+) \(epoch 2\): '
        r'the loss is not finite; loss terms: loss=(nan|inf)\.',
        proc.stderr)
    assert match, proc.stderr[-4000:]
    assert 7 <= int(match.group(1)) <= 12
    # the guard stopped it, not the checkpoint hook's refusal at the save
    assert 'refusing to write checkpoint' not in proc.stderr
    assert 'Epoch(train) [2][6/6]' not in _output(proc)
    _assert_epoch_1_kept(work, sha256)


@pytest.mark.slow
def test_locked_work_dir(reference, tmp_path):
    """A second run into a work dir in use stops before training, naming
    the running one."""
    work = tmp_path / 'work'
    with WorkDirLock(str(work)):
        proc = _run_failing(_train(reference.cfg, work))
        holder = (work / '.maskssl_train.lock').read_text()
    out = _output(proc)
    assert (f'error: work dir {work} is in use by another run: pid '
            f'{os.getpid()} on host {socket.gethostname()}, started ') in out
    assert 'Epoch(train)' not in out
    # the refused run left the holder's record and wrote nothing
    assert holder.startswith(f'pid {os.getpid()} on host ')
    assert sorted(os.listdir(work)) == ['.maskssl_train.lock']


@pytest.fixture(scope='module')
def byol_checkpoint(tmp_path_factory, toy_root) -> str:
    """A real BYOL training checkpoint: one iteration (8 scenes, batch 8)
    of the tiny BYOL config."""
    tmp = tmp_path_factory.mktemp('byol')
    cfg = _tiny_config(tmp, toy_root, 'byol')
    _run(_train(cfg, tmp / 'work', options=[
        'train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=8']))
    return str(tmp / 'work' / 'epoch_1.pth')


# the other shapes: a 32-d neck instead of a 16-d one
OTHER_SHAPES = {'model.neck.out_channels': 32,
                'model.head.predictor.in_channels': 12 * 32}


def _first_shape_mismatch(cfg_file: str, checkpoint) -> str:
    """The message part naming the first tensor (in the model's order) of
    ``checkpoint`` whose shape differs from the model of ``cfg_file`` with
    OTHER_SHAPES."""
    cfg = Config.fromfile(cfg_file)
    cfg.merge_from_dict(OTHER_SHAPES)
    expected = MODELS.build(cfg.model).state_dict()
    state = _weights(checkpoint)
    for key, tensor in expected.items():
        assert key in state
        if state[key].shape != tensor.shape:
            return (f'"{key}" has shape {tuple(state[key].shape)} in the '
                    f'checkpoint and {tuple(tensor.shape)} in the model')
    raise AssertionError('no shape differs')


@pytest.mark.slow
@pytest.mark.parametrize('case', [
    'text_file', 'backbone_only', 'other_algorithm', 'other_shapes',
    'nothing_to_resume_required'])
def test_resume_refused(case, reference, tmp_path, request):
    """Each resume that cannot continue the run stops before the first
    iteration, naming the problem."""
    work = tmp_path / 'work'
    options = []
    if case == 'text_file':
        src = tmp_path / 'notes.pth'
        src.write_text('epoch 1 was fine\n')
        args = ['--resume', str(src)]
        expected = [f'error: --resume: {src}: not a PyTorch checkpoint that '
                    'loads with weights_only=True (']
    elif case == 'backbone_only':
        src = tmp_path / 'backbone.pth'
        load_tool('extract_backbone_weights').main(
            [str(reference.epoch_1), str(src)])
        args = ['--resume', str(src)]
        expected = [f'error: --resume: {src} is not a training checkpoint '
                    '(it has no optimizer / message_hub; an extracted '
                    'backbone or a published model?)']
    elif case == 'other_algorithm':
        src = request.getfixturevalue('byol_checkpoint')
        args = ['--resume', src]
        expected = [f'error: --resume: {src} is a checkpoint of BYOL, this '
                    'config trains MaskDeep']
    elif case == 'other_shapes':
        src = str(reference.epoch_1)
        args = ['--resume', src]
        options = [f'{k}={v}' for k, v in OTHER_SHAPES.items()]
        expected = [f'error: --resume: {src} does not match the model of '
                    'this config (MaskDeep): ',
                    _first_shape_mismatch(reference.cfg, src)]
    else:
        args = ['--resume', '--require-resume']
        # a run from scratch would be quick (and fail the test)
        options = ['train_cfg.max_epochs=0']
        expected = [f'error: --resume: nothing to resume in {work} ({work}/'
                    'last_checkpoint does not exist) and --require-resume is '
                    'given, so nothing is trained']
    proc = _run_failing(_train(reference.cfg, work, *args, options=options))
    out = _output(proc)
    for part in expected:
        assert part in proc.stderr, out[-4000:]
    assert 'Epoch(train)' not in out
    assert not (work / 'epoch_1.pth').exists()


@pytest.mark.slow
def test_resume_nothing_warns(reference, tmp_path):
    """A bare --resume in an empty work dir warns loudly and trains from
    scratch (no epoch here: max_epochs=0)."""
    work = tmp_path / 'work'
    proc = _run(_train(reference.cfg, work, '--resume',
                       options=['train_cfg.max_epochs=0']))
    assert (f'WARNING - --resume: nothing to resume in {work} ({work}/'
            'last_checkpoint does not exist), so this run STARTS FROM '
            'SCRATCH. Check --work-dir; pass --require-resume to make this '
            'an error') in _output(proc)


@pytest.mark.slow
def test_resume_finished_run(reference, tmp_path):
    """Resuming the last checkpoint of the schedule says so and exits 0
    without training or writing a checkpoint."""
    work = tmp_path / 'work'
    os.makedirs(work)
    src = work / 'epoch_2.pth'
    shutil.copyfile(reference.epoch_2, src)
    proc = _run(_train(reference.cfg, work, '--resume', str(src)))
    out = _output(proc)
    assert (f'--resume: {src} is the end of this schedule (epoch 2, '
            'iteration 12); the run is finished, nothing to train') in out
    assert 'Epoch(train)' not in out
    assert filecmp.cmp(src, reference.epoch_2, shallow=False)
    assert sorted(n for n in os.listdir(work) if n.endswith('.pth')) == [
        'epoch_2.pth']
    assert not (work / 'last_checkpoint').exists()
