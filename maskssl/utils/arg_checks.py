"""Validation of integer arguments read from configs and command lines.

Values reach constructors and tools straight from a config or from
``--cfg-options`` (``model.neck.num_groups=abc`` arrives as the string
``'abc'``, ``=2.5`` as a float), and an unchecked one only fails later, deep
inside torch. One check serves the necks, the kNN evaluation and the
benchmark harness, so that their messages read alike.
"""
import numbers
from typing import Any


def check_int(value: Any, name: str, minimum: int = 1,
              owner: str = '') -> int:
    """Return ``value`` if it is an int of at least ``minimum``.

    A bool is not accepted (``True`` would silently mean 1), nor is a float
    with an integral value (``16.0``) or a numeric string.

    Args:
        value: The value to check.
        name (str): The argument, option or config key it came from, e.g.
            ``'num_groups'`` or ``'--iters'``; the message names it.
        minimum (int): The smallest value allowed. Defaults to 1.
        owner (str): Who takes the argument (e.g. ``'PointSamplingNeck'``),
            to start the message with. Defaults to none.

    Returns:
        int: ``value`` as a Python int.

    Raises:
        ValueError: naming ``owner``, ``name``, the value and its type, and
            what was expected.
    """
    if (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and value >= minimum):
        return int(value)
    expected = {1: 'a positive int', 0: 'a non-negative int'}.get(
        minimum, f'an int >= {minimum}')
    prefix = f'{owner}: ' if owner else ''
    raise ValueError(f'{prefix}{name}={value!r} '
                     f'({type(value).__name__}); expected {expected}')


def check_fraction(value: Any, name: str, owner: str = '',
                   low_inclusive: bool = False,
                   high_inclusive: bool = False) -> float:
    """Return ``value`` as a float if it is a real number in the interval
    between 0 and 1 (open unless ``low_inclusive``/``high_inclusive``).

    A bool or a string is not accepted. Used for mask ratios and
    probabilities, so that ``mask_ratio=75`` or ``p='0.1'`` is named where
    it is read instead of masking everything or nothing.

    Raises:
        ValueError: naming ``owner``, ``name``, the value and the interval.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        low_ok = value >= 0 if low_inclusive else value > 0
        high_ok = value <= 1 if high_inclusive else value < 1
        ok = low_ok and high_ok
    if ok:
        return float(value)
    interval = ('[' if low_inclusive else '(') + '0, 1' + (
        ']' if high_inclusive else ')')
    prefix = f'{owner}: ' if owner else ''
    raise ValueError(f'{prefix}{name}={value!r} ({type(value).__name__}); '
                     f'expected a number in {interval}')
