"""init_weights_quietly: the weights are initialised, mmengine's
per-parameter INFO dump is not logged, the logger's level is restored."""
import logging

import torch
from mmengine.logging import MMLogger
from mmpretrain.registry import MODELS

from maskssl.utils import init_weights_quietly


class _Records(logging.Handler):

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _init_logged(init) -> list:
    """Messages logged while ``init`` initialises a fresh ResNet-18, whose
    weights must change, outside a Runner: the current logger without a file
    handler (an earlier test's Runner may have left one, into which mmengine
    writes the dump instead)."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    files = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
    for handler in files:
        logger.removeHandler(handler)
    logger.setLevel(logging.INFO)
    records = _Records()
    logger.addHandler(records)
    try:
        backbone = MODELS.build(dict(type='ResNet', depth=18))
        torch.nn.init.zeros_(backbone.conv1.weight)
        init(backbone)
        assert logger.level == logging.INFO
    finally:
        logger.removeHandler(records)
        for handler in files:
            logger.addHandler(handler)
        logger.setLevel(level)
    assert backbone.conv1.weight.abs().sum() > 0
    return [m for m in records.messages if 'conv1.weight' in m]


def test_plain_init_weights_dumps_every_parameter():
    assert _init_logged(lambda m: m.init_weights())


def test_init_weights_quietly_does_not():
    assert _init_logged(init_weights_quietly) == []
