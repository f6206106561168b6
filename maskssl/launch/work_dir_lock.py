"""One run per work directory."""
import fcntl
import os
import os.path as osp
import socket
import sys
import time
from typing import Optional

LOCK_FILE = '.maskssl_train.lock'


class WorkDirLockedError(RuntimeError):
    """Another live run holds the work directory."""


def launch_rank() -> int:
    """The global rank a launcher gave this process (``RANK`` from torchrun,
    ``SLURM_PROCID`` from srun; 0 without a launcher), known before any
    process group exists."""
    return int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', 0)))


class WorkDirLock:
    """An advisory lock on a work directory, so that a second run into it
    stops instead of interleaving its log and checkpoints with the first.

    The lock is ``flock`` on ``{work_dir}/.maskssl_train.lock``, which
    records the holder's pid, host, start time and command line. The kernel
    releases it when the holder exits, however it exits (``kill -9``
    included), so a lock left by a dead process is detected (the file names
    a holder but nobody holds the lock), reported and taken over. In a
    distributed job only global rank 0 takes it: the ranks of one job share
    it, and a second job fails on its rank 0.

    Args:
        work_dir (str): The run's work directory (created if missing).
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_FILE)
        self._fd: Optional[int] = None

    def acquire(self) -> Optional[str]:
        """Take the lock.

        Returns:
            str | None: The description of a dead previous holder whose lock
            was taken over, else ``None``.

        Raises:
            WorkDirLockedError: naming the work directory and the live
                holder's pid, host and command.
        """
        os.makedirs(self.work_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd) or 'unknown process'
            os.close(fd)
            raise WorkDirLockedError(
                f'work dir {self.work_dir} is in use by another run: '
                f'{holder}. Wait for it to end, stop it, or pass another '
                '--work-dir') from None
        stale = _read(fd) or None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _describe_self().encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return stale

    def release(self) -> None:
        """Clear the holder record and release the lock (idempotent)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode(errors='replace').strip()


def _describe_self() -> str:
    started = time.strftime('%Y-%m-%d %H:%M:%S')
    command = ' '.join(sys.argv)
    return (f'pid {os.getpid()} on host {socket.gethostname()}, started '
            f'{started}: {command}')
