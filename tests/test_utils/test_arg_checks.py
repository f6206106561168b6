"""The shared integer check of config and command-line arguments."""
import numpy as np
import pytest

from maskssl.utils.arg_checks import check_int


def test_check_int():
    assert check_int(3, 'n') == 3
    assert check_int(np.int64(2), 'n') == 2 and check_int(0, 'n', 0) == 0
    for value, expected in ((True, 'a positive int'), (2.5, 'a positive int'),
                            ('3', 'a positive int'), (0, 'a positive int'),
                            (-1, 'a non-negative int')):
        minimum = 0 if expected == 'a non-negative int' else 1
        with pytest.raises(ValueError, match=f'expected {expected}'):
            check_int(value, 'n', minimum)
    with pytest.raises(ValueError, match=r'^Neck: n=1 \(int\); expected an '
                       r'int >= 2$'):
        check_int(1, 'n', 2, owner='Neck')
