"""TeacherTempWarmupHook: DINO's linear teacher temperature warm-up, set
before every epoch, logged, and exact on resume."""
import re
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from maskssl.engine.hooks import TeacherTempWarmupHook
from maskssl.engine.hooks.teacher_temp_warmup_hook import (resolve_module,
                                                           teacher_temperature)
from test_engine.tiny_runner import LinearModel, tiny_runner


class TempHolder(torch.nn.Module):

    def __init__(self, teacher_temp=1.0) -> None:
        super().__init__()
        self.teacher_temp = teacher_temp


class ModelWithHead(LinearModel):
    """The tiny linear model with a ``head`` holding ``teacher_temp``."""

    def __init__(self) -> None:
        super().__init__()
        self.head = TempHolder()


class Recorder(Hook):
    """Per iteration: (epoch, the head's temperature, the logged scalar, the
    value the LogProcessor would write)."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.rows = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        tag, _ = runner.log_processor.get_log_after_iter(
            runner, batch_idx, 'train')
        self.rows.append(
            (runner.epoch, runner.model.head.teacher_temp,
             runner.message_hub.get_scalar('train/teacher_temp').current(),
             tag['teacher_temp']))

    def per_epoch(self) -> dict:
        """epoch -> temperature, checking all iterations agree."""
        out = {}
        for epoch, temp, logged, tagged in self.rows:
            assert temp == logged == tagged
            assert out.setdefault(epoch, temp) == temp
        return out


def dino_schedule(epoch, warm, final, warmup_epochs):
    """Hand computation of np.linspace(warm, final, warmup_epochs)[epoch]."""
    if epoch >= warmup_epochs:
        return final
    if warmup_epochs == 1:
        return warm
    return warm + (final - warm) * epoch / (warmup_epochs - 1)


@pytest.mark.parametrize('epoch', [0, 1, 15, 28, 29, 30, 31, 99])
def test_teacher_temperature_is_dino_schedule(epoch):
    value = teacher_temperature(epoch, 0.04, 0.07, 30)
    assert isinstance(value, float)
    assert value == pytest.approx(dino_schedule(epoch, 0.04, 0.07, 30),
                                  rel=1e-12)


def test_teacher_temperature_endpoints_and_short_warmups():
    assert teacher_temperature(0, 0.04, 0.07, 30) == 0.04
    assert teacher_temperature(29, 0.04, 0.07, 30) == 0.07  # last warm-up
    assert teacher_temperature(1, 0.04, 0.07, 30) == pytest.approx(
        0.04 + 0.03 / 29)
    assert teacher_temperature(0, 0.04, 0.07, 0) == 0.07  # no warm-up
    assert teacher_temperature(0, 0.04, 0.07, 1) == 0.04
    assert teacher_temperature(1, 0.04, 0.07, 1) == 0.07


def _run(work_dir, max_epochs, **kwargs):
    recorder = Recorder()
    runner = tiny_runner(
        str(work_dir), max_epochs=max_epochs, model=ModelWithHead(),
        custom_hooks=[TeacherTempWarmupHook(warmup_epochs=4), recorder],
        **kwargs)
    runner.train()
    return recorder.per_epoch()


def test_sets_temperature_every_epoch_and_resumes_exactly(tmp_path):
    full = _run(tmp_path / 'full', 6)
    # epochs 0, 1, warmup - 1 = 3, warmup = 4 and later, by hand
    expected = {0: 0.04, 1: 0.05, 2: 0.06, 3: 0.07, 4: 0.07, 5: 0.07}
    assert full.keys() == expected.keys()
    for epoch, temp in expected.items():
        assert full[epoch] == pytest.approx(temp, rel=1e-12), epoch
    # interrupted after epoch 2, resumed into a fresh model (temp 1.0)
    _run(tmp_path / 'cut', 2)
    resumed = _run(tmp_path / 'resumed', 6, resume=True,
                   load_from=str(tmp_path / 'cut' / 'epoch_2.pth'))
    assert sorted(resumed) == [2, 3, 4, 5]
    assert all(resumed[e] == full[e] for e in resumed)


def test_resolves_dotted_path_through_model_wrapper():
    model = ModelWithHead()
    model.head.inner = TempHolder()
    wrapped = torch.nn.DataParallel(model)  # a registered model wrapper
    assert resolve_module(wrapped, 'head', 'X') is model.head
    assert resolve_module(wrapped, 'head.inner', 'X') is model.head.inner
    hook = TeacherTempWarmupHook(warmup_epochs=2, module='head.inner')
    runner = SimpleNamespace(model=wrapped, train_loop=object(), epoch=1,
                             message_hub=SimpleNamespace(
                                 update_scalar=lambda *args: None))
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    assert model.head.inner.teacher_temp == 0.07
    assert model.head.teacher_temp == 1.0


class TensorTemp(torch.nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer('teacher_temp', torch.tensor(0.1))


@pytest.mark.parametrize('module, head, match', [
    ('neck.proj', TempHolder(), r"module='neck\.proj' is not a submodule "
     r'of ModelWithHead'),
    ('head', torch.nn.Identity(), r"module='head' \(Identity\) has no float "
     r'attribute teacher_temp \(found NoneType\)'),
    ('head', TensorTemp(), r"module='head' \(TensorTemp\) has no float "
     r'attribute teacher_temp \(found Tensor\)'),
])
def test_missing_module_or_attribute_fails_before_training(
        module, head, match):
    model = ModelWithHead()
    model.head = head
    runner = SimpleNamespace(model=model, train_loop=object())
    with pytest.raises(ValueError, match=match):
        TeacherTempWarmupHook(module=module).before_train(runner)


def test_iteration_based_loop_is_refused():
    runner = SimpleNamespace(model=ModelWithHead(),
                             train_loop=object.__new__(IterBasedTrainLoop))
    with pytest.raises(ValueError, match='needs an epoch-based train loop'):
        TeacherTempWarmupHook().before_train(runner)


@pytest.mark.parametrize('kwargs', [
    dict(warmup_teacher_temp=0), dict(warmup_teacher_temp=-0.04),
    dict(warmup_teacher_temp=True), dict(teacher_temp='0.07'),
    dict(teacher_temp=None), dict(warmup_epochs=-1),
    dict(warmup_epochs=1.5), dict(warmup_epochs=True), dict(module=None),
    dict(module=['head'])
])
def test_bad_args(kwargs):
    (name, value), = kwargs.items()
    with pytest.raises(ValueError, match='^TeacherTempWarmupHook: ' +
                       re.escape(f'{name}={value!r}')):
        TeacherTempWarmupHook(**kwargs)
