"""mmengine's ``CheckpointHook`` made crash-safe."""
import os
import os.path as osp
import re
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from maskssl.checkpoint import (durable_replace, first_non_finite, save_atomic,
                                write_file)

# the temporary name of a checkpoint while it is written
TMP_TEMPLATE = '.{}.tmp'


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints survive a kill, a full disk and a
    diverged run.

    mmengine's hook deletes the oldest checkpoint before it writes the new
    one, and writes in place: a ``kill -9`` or a full disk during the write
    leaves a truncated file under the final name, the previous one already
    gone. This hook instead

    1. refuses to write weights with a NaN or inf (``RuntimeError`` naming
       the first such tensor, before anything is written; every rank checks
       the same replicated weights, so all ranks stop together);
    2. writes ``.{name}.tmp`` in the same directory, ``fsync``\\ s it and
       renames it to ``{name}`` (:func:`~maskssl.checkpoint.durable_replace`;
       a failed write removes the temporary file and re-raises);
    3. only then points ``last_checkpoint`` at it (written the same way);
    4. and only then deletes the checkpoints beyond ``max_keep_ckpts``.

    A crash at any moment therefore leaves the previous checkpoint loadable
    and ``last_checkpoint`` naming a complete file. Temporary files of a
    killed run are removed when the next run in the work directory starts.
    Takes the arguments of ``CheckpointHook``; checkpoints on a non-local
    backend (``backend_args`` for S3, ...) are written by the parent class,
    and ``save_best`` checkpoints too.

    Example::

        default_hooks = dict(checkpoint=dict(
            type='SafeCheckpointHook', interval=1, max_keep_ckpts=3))
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not self._is_local():
            runner.logger.warning(
                f'SafeCheckpointHook: {self.out_dir} is not on a local file '
                'system; checkpoints are written in place by mmengine.')
            return
        # mmengine's deque has maxlen=max_keep_ckpts and drops the oldest id
        # when a new one is appended; keep all until the new file is safe
        self.keep_ckpt_ids = list(getattr(self, 'keep_ckpt_ids', []))
        if is_main_process() and osp.isdir(self.out_dir):
            pattern = re.compile(
                re.escape(TMP_TEMPLATE.format(self.filename_tmpl))
                .replace(re.escape('{}'), r'\d+') + '$')
            for name in os.listdir(self.out_dir):
                if pattern.match(name):
                    os.remove(osp.join(self.out_dir, name))
                    runner.logger.warning(
                        f'SafeCheckpointHook: removed {name}, an incomplete '
                        'checkpoint of an interrupted run')

    def before_save_checkpoint(self, runner, checkpoint: Dict) -> None:
        """Record the algorithm class in ``meta['model_type']``, which
        ``--resume`` checks (:func:`maskssl.launch.check_resume`)."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        checkpoint['meta']['model_type'] = type(model).__name__

    def _is_local(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: Dict) -> None:
        if not self._is_local():
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        filename = self.filename_tmpl.format(step)
        check_finite_weights(runner.model, filename)
        if not self.keep_ckpt_ids or self.keep_ckpt_ids[-1] != step:
            self.keep_ckpt_ids.append(step)
        drop = []
        if self.max_keep_ckpts > 0:
            drop = self.keep_ckpt_ids[:-self.max_keep_ckpts]
            self.keep_ckpt_ids = self.keep_ckpt_ids[-self.max_keep_ckpts:]
            # the list the checkpoint records: as it is once this save is done
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        tmp = osp.join(self.out_dir, TMP_TEMPLATE.format(filename))
        try:
            self._write(runner, osp.basename(tmp), meta)
            if is_main_process():
                durable_replace(tmp, self.last_ckpt)
        except BaseException:
            if is_main_process() and osp.exists(tmp):
                os.remove(tmp)
            raise
        if not is_main_process():
            return
        save_atomic(self.last_ckpt,
                    osp.join(runner.work_dir, 'last_checkpoint'),
                    save=write_file)
        for old in drop:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)

    def _write(self, runner, tmp_name: str, meta: Dict) -> None:
        """Write the checkpoint to ``out_dir/tmp_name`` (rank 0; mmengine's
        ``Runner.save_checkpoint`` is ``master_only``)."""
        runner.save_checkpoint(
            self.out_dir,
            tmp_name,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)


def check_finite_weights(model, filename: Optional[str] = None) -> None:
    """Raise ``RuntimeError`` naming the first parameter or buffer of
    ``model`` (a model wrapper's ``module``) that holds a NaN or inf, and the
    checkpoint ``filename`` that is therefore not written."""
    if is_model_wrapper(model):
        model = model.module
    bad = first_non_finite(model.state_dict())
    if bad is not None:
        name, count = bad
        raise RuntimeError(
            f'refusing to write checkpoint {filename}: the weight "{name}" '
            f'holds {count} NaN/inf values, the run has diverged; the '
            'previous checkpoint is kept (DivergenceGuardHook stops a run at '
            'its first NaN/inf loss or gradient; a non-finite buffer such as '
            'a BatchNorm running_var only shows here)')
