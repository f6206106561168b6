"""DINO's frozen last layer: no update of the projection head's output layer
during the first epoch(s)."""
from typing import Dict, List

from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmpretrain.registry import HOOKS
from torch import nn

from maskssl.utils.arg_checks import check_int

from .teacher_temp_warmup_hook import require_epoch_based, unwrap_model


def params_under(model: nn.Module, prefix: str) -> Dict[str, nn.Parameter]:
    """The parameters of ``model`` named ``prefix`` or lying under the
    module ``prefix`` (``'neck.last_layer'`` takes
    ``neck.last_layer.weight`` and ``neck.last_layer.bias``, not
    ``neck.last_layer_norm.weight``), by name."""
    return {name: param for name, param in model.named_parameters()
            if name == prefix or name.startswith(prefix + '.')}


@HOOKS.register_module()
class FreezeLastLayerHook(Hook):
    """Keep the parameters under ``prefix`` fixed while
    ``runner.epoch < epochs``.

    DINO's ``cancel_gradients_last_layer`` (facebookresearch/dino
    ``utils.py``; ``main_dino.py --freeze_last_layer 1``: keeping the output
    layer fixed during the first epoch helps training), whose training
    settings MST follows (MST Sec. 4.1 and App. G). Their gradients are
    set to ``None`` after backward and before the optimizer step, so the
    optimizer skips them entirely: AdamW neither moves them nor applies
    weight decay, and builds no moments for them. From epoch ``epochs`` on
    they train normally.

    mmengine has no hook point between backward and step, so the hook wraps
    ``step`` of the runner's optimizer wrapper instance (each wrapper of an
    ``OptimWrapperDict`` whose optimizer holds some of these parameters),
    as :class:`DivergenceGuardHook` does; each hook wraps the ``step`` it
    finds, so both compose. It works unchanged for ``AmpOptimWrapper``
    (the gradient scaler skips parameters without a gradient). The
    gradients are dropped before the wrapper's gradient clipping: DINO clips
    each parameter separately, where the order does not matter; with
    mmengine's global-norm clipping the frozen layer, which is not updated,
    does not count towards the norm. The decision reads ``runner.epoch`` at
    every step, so the hook holds no state and resumes exactly.

    Args:
        epochs (int): Epochs, from the start of training, during which the
            parameters stay fixed; 0 disables the hook. Defaults to 1.
        prefix (str): Name in the model (unwrapped) of the parameter or
            module to keep fixed. Defaults to ``'neck.last_layer'``.
    """

    def __init__(self, epochs: int = 1,
                 prefix: str = 'neck.last_layer') -> None:
        self.epochs = check_int(epochs, 'epochs', 0, 'FreezeLastLayerHook')
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f'FreezeLastLayerHook: prefix={prefix!r} '
                             f'({type(prefix).__name__}); expected a '
                             "parameter or module name such as "
                             "'neck.last_layer'")
        self.prefix = prefix

    def before_train(self, runner) -> None:
        require_epoch_based(runner, 'FreezeLastLayerHook')
        model = unwrap_model(runner.model)
        frozen = params_under(model, self.prefix)
        if not frozen:
            children = [name for name, child in model.named_children()
                        if next(child.parameters(), None) is not None]
            raise ValueError(
                f'FreezeLastLayerHook: prefix={self.prefix!r} matches no '
                f'parameter of {type(model).__name__}; expected the name of '
                'a parameter or module under its submodules with parameters '
                f'{children}')
        wrappers = runner.optim_wrapper
        wrappers = (wrappers.values() if isinstance(wrappers, OptimWrapperDict)
                    else [wrappers])
        for wrapper in wrappers:
            held = {id(p) for group in wrapper.optimizer.param_groups
                    for p in group['params']}
            params = [p for p in frozen.values() if id(p) in held]
            if params:
                self._freeze(wrapper, params, runner)

    def _freeze(self, wrapper: OptimWrapper, params: List[nn.Parameter],
                runner) -> None:
        """Wrap ``wrapper.step`` (this instance) to drop the gradients of
        ``params`` while ``runner.epoch < self.epochs``."""
        step = wrapper.step

        def step_without_frozen(**kwargs) -> None:
            if runner.epoch < self.epochs:
                for param in params:
                    param.grad = None
            step(**kwargs)

        wrapper.step = step_without_frozen
