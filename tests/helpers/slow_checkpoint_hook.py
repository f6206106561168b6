"""A checkpoint hook that stops in the middle of a save, for tests only.

``tests/test_tools/test_train_faults.py`` runs ``tools/train.py`` with this
directory on ``PYTHONPATH`` and a config with::

    custom_imports = dict(imports=['maskssl', 'slow_checkpoint_hook'],
                          allow_failed_imports=False)
    default_hooks = dict(checkpoint=dict(
        type='SlowCheckpointHookForTests', marker='/tmp/.../saving'))

and SIGKILLs the run once ``marker`` exists. Not part of maskssl: it is
registered into mmpretrain's ``HOOKS`` only when a config imports it.
"""
import os
import os.path as osp
import time
from typing import Dict

from mmpretrain.registry import HOOKS

from maskssl.engine.hooks import SafeCheckpointHook
from maskssl.engine.hooks.safe_checkpoint_hook import TMP_TEMPLATE


@HOOKS.register_module(name='SlowCheckpointHookForTests')
class SlowCheckpointHook(SafeCheckpointHook):
    """``SafeCheckpointHook`` whose write of the checkpoint of ``slow_step``
    is interrupted: the temporary file is written for real, truncated to
    half its size (what a kill in the middle of ``torch.save`` leaves),
    then ``marker`` is created and the hook sleeps ``sleep`` seconds, in
    which the test kills the process. A run that is not killed fails
    instead of renaming the truncated file.

    Args:
        marker (str): The file created once the truncated file is there.
        slow_step (int): The epoch (or iteration) whose save is interrupted.
            Defaults to 2.
        sleep (float): Seconds to wait for the kill. Defaults to 600.
        **kwargs: The arguments of ``SafeCheckpointHook``.
    """

    def __init__(self, marker: str, slow_step: int = 2, sleep: float = 600,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.marker = marker
        self.slow_step = slow_step
        self.sleep = sleep

    def _write(self, runner, tmp_name: str, meta: Dict) -> None:
        super()._write(runner, tmp_name, meta)
        slow_name = self.filename_tmpl.format(self.slow_step)
        if tmp_name != TMP_TEMPLATE.format(slow_name):
            return
        path = osp.join(self.out_dir, tmp_name)
        with open(path, 'r+b') as f:
            f.truncate(osp.getsize(path) // 2)
            os.fsync(f.fileno())
        with open(self.marker, 'w') as f:
            f.write(f'{os.getpid()} {path}\n')
        time.sleep(self.sleep)
        raise RuntimeError(f'SlowCheckpointHookForTests: not killed within '
                           f'{self.sleep} s while writing {path}')
