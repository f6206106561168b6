"""Fault injection for ``tools/train.py``: kill a run at random moments
(checkpoint writes included), resume it each time, and compare its result
with an uninterrupted run of the same seed."""
import glob
import os
import os.path as osp
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from maskssl.checkpoint import read_checkpoint

TRAIN = osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'tools', 'train.py')


@dataclass
class Kill:
    """One injected fault: when (seconds after the start of the attempt),
    whether it hit a checkpoint write (a ``.*.tmp`` file existed) and the
    checkpoint ``last_checkpoint`` named afterwards."""
    after_s: float
    during_save: bool
    last_checkpoint: Optional[str]


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The file ``work_dir/last_checkpoint`` names, or ``None``."""
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return f.read().strip()


def saving(work_dir: str, final: Optional[str] = None) -> bool:
    """Whether a checkpoint other than ``final`` (a file name) is being
    written in ``work_dir`` now."""
    return any(osp.basename(p) != f'.{final}.tmp'
               for p in glob.glob(osp.join(work_dir, '.*.pth.tmp')))


def checkpoint_step(path: Optional[str]) -> int:
    """The epoch or iteration in a checkpoint's name (``epoch_3.pth``: 3),
    0 for ``None``."""
    match = re.search(r'(\d+)\.pth$', path or '')
    return int(match.group(1)) if match else 0


def train_command(config: str, work_dir: str, resume: bool,
                  cfg_options: Sequence[str] = ()) -> List[str]:
    """``tools/train.py CONFIG --work-dir DIR [--resume] [--cfg-options]``."""
    cmd = [sys.executable, TRAIN, config, '--work-dir', work_dir]
    if resume:
        cmd.append('--resume')
    if cfg_options:
        cmd += ['--cfg-options', *cfg_options]
    return cmd


def run_to_end(cmd: List[str], log: str) -> float:
    """Run ``cmd`` to completion (output appended to ``log``).

    Returns:
        float: Its wall time in seconds.

    Raises:
        RuntimeError: naming the command and the log when it fails.
    """
    start = time.time()
    with open(log, 'a') as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f'{" ".join(cmd)} exited with {code}; see {log}')
    return time.time() - start


def run_and_kill(cmd: List[str], log: str, work_dir: str, at_s: float,
                 at_save: bool, final: Optional[str] = None,
                 poll_s: float = 0.002) -> Optional[Kill]:
    """Start ``cmd`` and SIGKILL it ``at_s`` seconds later, or, with
    ``at_save``, as soon as it starts writing a checkpoint other than the
    schedule's ``final`` one after that (a kill after the final checkpoint
    would leave nothing to resume).

    Returns:
        Kill | None: The fault injected, or ``None`` when the run ended
        first (it then exited 0).

    Raises:
        RuntimeError: when the run ended first with a non-zero exit.
    """
    start = time.time()
    with open(log, 'a') as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            now = time.time() - start
            if now >= at_s and (not at_save or saving(work_dir, final)):
                during = saving(work_dir)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return Kill(now, during, last_checkpoint(work_dir))
            time.sleep(poll_s)
    if proc.returncode != 0:
        raise RuntimeError(
            f'{" ".join(cmd)} exited with {proc.returncode}; see {log}')
    return None


def max_abs_diff(a: Dict[str, torch.Tensor],
                 b: Dict[str, torch.Tensor]) -> Tuple[float, str]:
    """The largest absolute difference between two state dicts with the
    same keys and shapes, and the key where it is.

    Raises:
        ValueError: naming the first key or shape that differs.
    """
    if a.keys() != b.keys():
        raise ValueError(f'the checkpoints differ in keys: '
                         f'{sorted(set(a) ^ set(b))[:5]}')
    worst, where = 0.0, ''
    for key, value in a.items():
        if value.shape != b[key].shape:
            raise ValueError(f'"{key}": shape {tuple(value.shape)} vs '
                             f'{tuple(b[key].shape)}')
        diff = (value.double() - b[key].double()).abs().max().item() \
            if value.numel() else 0.0
        if diff > worst or not where:
            worst, where = diff, key
    return worst, where


def chaos_train(config: str, work_dir: str, kills: int, seed: int = 0,
                cfg_options: Sequence[str] = (),
                save_fraction: float = 0.5) -> Tuple[List[Kill], float, str]:
    """Train ``config`` uninterrupted in ``work_dir/reference``, then in
    ``work_dir/chaos`` with ``kills`` SIGKILLs, resuming after each.

    Each attempt's kill time is drawn (``random.Random(seed)``) uniformly
    between 5% and 60% of what is left of the reference run's duration
    (start-up included, so early kills hit the start-up and the first
    epoch, later ones training); about ``save_fraction`` of the attempts
    wait from that moment for the next checkpoint write (not the last
    one's) and are killed during it, which also makes every such attempt
    progress by at least one checkpoint.

    Returns:
        tuple: The kills, the largest absolute difference between the two
        final checkpoints' tensors (weights, buffers, momentum copies) and
        the tensor where it is.
    """
    rng = random.Random(seed)
    reference, chaos = (osp.join(work_dir, name)
                        for name in ('reference', 'chaos'))
    os.makedirs(work_dir, exist_ok=True)
    log = osp.join(work_dir, 'chaos_train.log')
    duration = run_to_end(
        train_command(config, reference, False, cfg_options), log)
    final = osp.basename(last_checkpoint(reference))
    done: List[Kill] = []
    while len(done) < kills:
        cmd = train_command(config, chaos, osp.isdir(chaos), cfg_options)
        left = 1 - checkpoint_step(last_checkpoint(chaos)) / max(
            checkpoint_step(final), 1)
        at = rng.uniform(0.05, 0.6) * duration * max(left, 0.2)
        kill = run_and_kill(cmd, log, chaos, at,
                            at_save=rng.random() < save_fraction,
                            final=final)
        if kill is None:
            raise RuntimeError(
                f'the chaos run finished after {len(done)} of {kills} '
                'kills; use a longer schedule or fewer kills')
        done.append(kill)
    run_to_end(train_command(config, chaos, True, cfg_options), log)
    diff, where = max_abs_diff(
        read_checkpoint(last_checkpoint(reference))['state_dict'],
        read_checkpoint(last_checkpoint(chaos))['state_dict'])
    return done, diff, where
