"""WorkDirLock: one run per work directory; a dead holder's lock is taken
over."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from maskssl.launch import WorkDirLock, WorkDirLockedError, launch_rank


def test_second_holder_is_refused_with_pid_and_host(tmp_path):
    work_dir = str(tmp_path / 'run')
    first = WorkDirLock(work_dir)
    assert first.acquire() is None
    # flock is per open file: a second lock in this process conflicts too
    with pytest.raises(WorkDirLockedError) as err:
        WorkDirLock(work_dir).acquire()
    message = str(err.value)
    assert f'pid {os.getpid()} on host {socket.gethostname()}' in message
    assert work_dir in message and '--work-dir' in message
    first.release()
    first.release()  # idempotent
    with WorkDirLock(work_dir) as again:  # released: free again, not stale
        assert again._fd is not None


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    work_dir = str(tmp_path)
    holder = subprocess.Popen([
        sys.executable, '-c',
        'import sys, time; from maskssl.launch import WorkDirLock; '
        f'WorkDirLock({work_dir!r}).acquire(); print("held", flush=True); '
        'time.sleep(60)'
    ], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        with pytest.raises(WorkDirLockedError, match=f'pid {holder.pid} '):
            WorkDirLock(work_dir).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    time.sleep(0.1)
    lock = WorkDirLock(work_dir)
    stale = lock.acquire()
    assert stale is not None and f'pid {holder.pid} ' in stale
    lock.release()


@pytest.mark.parametrize('env,rank', [({}, 0), ({'RANK': '3'}, 3),
                                      ({'SLURM_PROCID': '2'}, 2),
                                      ({'RANK': '1', 'SLURM_PROCID': '5'}, 1)])
def test_launch_rank(monkeypatch, env, rank):
    monkeypatch.delenv('RANK', raising=False)
    monkeypatch.delenv('SLURM_PROCID', raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert launch_rank() == rank
