"""Weight initialisation outside a Runner."""
import logging

from mmengine.logging import MMLogger
from torch import nn


def init_weights_quietly(module: nn.Module) -> None:
    """``module.init_weights()`` without mmengine's per-parameter dump.

    Outside a Runner the current logger has no file handler, so mmengine's
    ``BaseModule.init_weights`` logs four INFO lines for every parameter;
    the logger is held at WARNING while the weights are initialised.
    """
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        module.init_weights()
    finally:
        logger.setLevel(level)
