"""DINO's distillation loss (MST Eq. 2) with the teacher's centre."""
import math
import re

import pytest
import torch
from mmpretrain.registry import MODELS

import maskssl.models.heads.dino_distillation_head as head_module
from maskssl.models.heads.dino_distillation_head import (
    DINODistillationHead, centred_teacher_probs, dino_cross_entropy,
    updated_center)

T, S, B, K = 2, 4, 3, 5


def _head(**kwargs):
    return MODELS.build(dict(type='DINODistillationHead', out_channels=K,
                             **kwargs))


def _outputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    student = torch.randn(S * B, K, generator=gen, dtype=torch.float64)
    teacher = torch.randn(T * B, K, generator=gen, dtype=torch.float64)
    return student, teacher


def _hand_loss(student, teacher, center, student_temp, teacher_temp,
               same_view_too=False):
    """Eq. 2 with explicit loops: the batch-mean cross entropy of every
    (teacher crop i, student crop j != i) pair, averaged over the pairs."""
    total, pairs = 0.0, 0
    for i in range(T):
        for j in range(S):
            if i == j and not same_view_too:
                continue
            pair = 0.0
            for b in range(B):
                t_row = [(teacher[i * B + b, k].item() - center[0, k].item())
                         / teacher_temp for k in range(K)]
                t_norm = sum(math.exp(v) for v in t_row)
                s_row = [student[j * B + b, k].item() / student_temp
                         for k in range(K)]
                s_lse = math.log(sum(math.exp(v) for v in s_row))
                pair -= sum(math.exp(t_row[k]) / t_norm * (s_row[k] - s_lse)
                            for k in range(K))
            total += pair / B
            pairs += 1
    return total / pairs, pairs


def test_loss_equals_hand_computation_over_crop_pairs():
    student, teacher = _outputs()
    head = _head().double()
    expected, pairs = _hand_loss(student, teacher, torch.zeros(1, K), 0.1,
                                 0.04)
    assert pairs == T * (S - 1) == 6
    assert head.loss(student, teacher, S).item() == pytest.approx(
        expected, rel=1e-10)
    # the same-view pairs (teacher crop i, student crop i) are left out
    with_same, _ = _hand_loss(student, teacher, torch.zeros(1, K), 0.1, 0.04,
                              same_view_too=True)
    assert abs(with_same - expected) > 1e-3


def test_loss_uses_the_centre_and_the_current_teacher_temp():
    student, teacher = _outputs(1)
    head = _head(student_temp=0.2, center_momentum=0.5).double()
    head.center.copy_(torch.randn(1, K, dtype=torch.float64))
    head.teacher_temp = 0.07  # as the warm-up hook sets it
    center = head.center.clone()
    expected, _ = _hand_loss(student, teacher, center, 0.2, 0.07)
    assert head.loss(student, teacher, S).item() == pytest.approx(
        expected, rel=1e-10)


def test_pure_functions_match_the_module():
    student, teacher = _outputs(2)
    center = torch.randn(1, K, dtype=torch.float64)
    probs = centred_teacher_probs(teacher, center, 0.05)
    torch.testing.assert_close(probs.sum(-1), torch.ones(T * B,
                                                         dtype=torch.float64))
    expected, _ = _hand_loss(student, teacher, center, 0.3, 0.05)
    assert dino_cross_entropy(student, probs, S, T, 0.3).item() == \
        pytest.approx(expected, rel=1e-10)


def test_student_crop_i_ignores_teacher_crop_i():
    student, teacher = _outputs(3)
    student.requires_grad_(True)
    other = teacher.clone()
    other[:B] = torch.randn(B, K, dtype=torch.float64)  # teacher crop 0
    grads = []
    for t in (teacher, other):
        probs = centred_teacher_probs(t, torch.zeros(1, K), 0.04)
        grads.append(torch.autograd.grad(
            dino_cross_entropy(student, probs, S, T), student)[0])
    # student crop 0 is compared with teacher crop 1 only
    torch.testing.assert_close(grads[0][:B], grads[1][:B])
    assert not torch.allclose(grads[0][B:], grads[1][B:])


def test_centre_update_equals_the_formula():
    student, teacher = _outputs(4)
    head = _head(center_momentum=0.8).double()
    head.loss(student, teacher, S)
    first = 0.2 * teacher.mean(0, keepdim=True)
    torch.testing.assert_close(head.center, first)
    student2, teacher2 = _outputs(5)
    head.loss(student2, teacher2, S)
    torch.testing.assert_close(
        head.center, 0.8 * first + 0.2 * teacher2.mean(0, keepdim=True))
    torch.testing.assert_close(
        updated_center(first, teacher2.mean(0, keepdim=True), 0.8),
        head.center)
    assert head.state_dict()['center'].shape == (1, K)


def test_centre_momentum_zero_takes_the_batch_mean():
    student, teacher = _outputs(6)
    head = _head(center_momentum=0).double()
    head.loss(student, teacher, S)
    torch.testing.assert_close(head.center, teacher.mean(0, keepdim=True))


def test_centre_mean_is_averaged_over_ranks(monkeypatch):
    """World size 2: the other rank's batch mean is added by the
    all-reduce (sum), then divided by 2."""
    student, teacher = _outputs(7)
    other_rank_mean = torch.randn(1, K, dtype=torch.float64)

    def fake_all_reduce(data, op='sum'):
        assert op == 'sum'
        data.add_(other_rank_mean)

    monkeypatch.setattr(head_module, 'all_reduce', fake_all_reduce)
    monkeypatch.setattr(head_module, 'get_world_size', lambda: 2)
    head = _head().double()
    head.loss(student, teacher, S)
    torch.testing.assert_close(
        head.center,
        0.1 * (teacher.mean(0, keepdim=True) + other_rank_mean) / 2)


def test_gradient_flows_to_the_student_only():
    student, teacher = _outputs(8)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    head = _head().double()
    head.loss(student, teacher, S).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None
    assert not head.center.requires_grad


@pytest.mark.parametrize('key, value, expected', [
    ('student_temp', 0, 'student_temp=0 (int); expected a positive number'),
    ('student_temp', -0.1, 'student_temp=-0.1 (float)'),
    ('student_temp', '0.1', "student_temp='0.1' (str)"),
    ('teacher_temp', 0.0, 'teacher_temp=0.0 (float); expected a positive'),
    ('center_momentum', 1.0,
     'center_momentum=1.0 (float); expected a number in [0, 1)'),
    ('center_momentum', -0.1, 'center_momentum=-0.1 (float)'),
    ('center_momentum', True, 'center_momentum=True (bool)'),
    ('out_channels', 0, 'out_channels=0 (int); expected a positive int'),
])
def test_invalid_arguments(key, value, expected):
    kwargs = dict(out_channels=K)
    kwargs[key] = value
    with pytest.raises(ValueError,
                       match=re.escape(f'DINODistillationHead: {expected}')):
        DINODistillationHead(**kwargs)


@pytest.mark.parametrize('student_rows, teacher_rows, crops, message', [
    (S * B, T * B, 1, 'num_student_crops=1 (int); expected an int >= 2'),
    (S * B + 1, T * B, S, 'is not (S*B, K) with S=num_student_crops=4'),
    (S * B, T * B + 1, S, 'is not (T*B, K) with B=3'),
    (S * B, (S + 1) * B, S, 'num_teacher_crops=5 > num_student_crops=4'),
    (0, T * B, S, 'is not (S*B, K)'),
])
def test_wrong_shapes(student_rows, teacher_rows, crops, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _head().loss(torch.randn(student_rows, K),
                     torch.randn(teacher_rows, K), crops)


def test_wrong_teacher_width():
    with pytest.raises(ValueError, match=re.escape(
            'teacher_probs of shape (6, 4); expected (T*B, K) = (6, 5)')):
        dino_cross_entropy(torch.randn(S * B, K), torch.rand(T * B, K - 1),
                           S, T)
