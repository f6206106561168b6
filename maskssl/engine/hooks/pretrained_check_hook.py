from typing import List, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmpretrain.registry import HOOKS

from ...checkpoint.pretrained import (PretrainedLoad, check_pretrained,
                                      verify_pretrained)


@HOOKS.register_module()
class PretrainedCheckHook(Hook):
    """Fail before training when ``Pretrained`` weights would not load
    completely, and prove after initialisation that they did.

    ``before_run`` of a training run (the Runner initialises weights right
    after it; test and val runs are left alone) matches
    every ``init_cfg=dict(type='Pretrained')`` checkpoint against its modules
    with :func:`maskssl.checkpoint.pretrained.check_pretrained`;
    ``before_train`` compares every loaded tensor with the checkpoint (skipped
    when the run resumes or starts from ``load_from``, whose weights replace
    them).

    Downstream configs (default scope ``mmdet`` / ``mmseg``) name it
    ``mmpretrain.PretrainedCheckHook``.

    Args:
        allow_missing (Sequence[str]): Patterns of full module keys that are
            meant to stay freshly initialised (the C4 extra norm:
            ``'roi_head.shared_head.norm.*'``).
        allow_unexpected (Sequence[str]): Patterns of checkpoint keys (after
            the prefix) that no module takes.
        resizable (Sequence[str]): Patterns of module keys the module resizes
            on load (ViT ``pos_embed`` at another image size).
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 allow_missing: Sequence[str] = (),
                 allow_unexpected: Sequence[str] = (),
                 resizable: Sequence[str] = ('pos_embed', )) -> None:
        self.allow_missing = tuple(allow_missing)
        self.allow_unexpected = tuple(allow_unexpected)
        self.resizable = tuple(resizable)
        self.loads: List[PretrainedLoad] = []

    def before_run(self, runner) -> None:
        # `runner.test()` / `val()` also call before_run, but never initialise
        # weights (they load `load_from`); `train()` builds its loop first.
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self.loads = check_pretrained(model, self.allow_missing,
                                      self.allow_unexpected, self.resizable)
        if not self.loads:
            print_log('PretrainedCheckHook: no module has a Pretrained '
                      'init_cfg; training starts from random weights',
                      logger='current', level=30)

    def before_train(self, runner) -> None:
        if not self.loads or runner.iter > 0 or runner.cfg.get('load_from'):
            return
        count = verify_pretrained(self.loads)
        for load in self.loads:
            resized = (f', resized on load: {", ".join(load.resized)}'
                       if load.resized else '')
            print_log(
                f'model.{load.name}: {len(load.state)} tensors loaded from '
                f'"{load.checkpoint}"{resized}', logger='current')
        print_log(f'PretrainedCheckHook: all {count} loaded tensors equal '
                  'their checkpoint tensors', logger='current')
