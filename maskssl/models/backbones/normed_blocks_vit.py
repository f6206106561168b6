import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS


@MODELS.register_module()
class NormedBlocksViT(VisionTransformer):
    """A ``VisionTransformer`` whose every ``out_indices`` output goes through
    the final norm ``ln1``, as DINO's ``get_intermediate_layers`` does for
    its linear evaluation on the concatenated class tokens of the last
    ``n`` blocks (MST Table 1/8, "†": the DINO linear protocol).

    mmpretrain's ``VisionTransformer`` normalises only the last block. The
    parameters are the parent's, so ``backbone.*`` pretraining weights load
    unchanged (``ln1`` included).

    Args:
        **kwargs: ``VisionTransformer`` arguments; ``final_norm`` must be
            left True.
    """

    def __init__(self, **kwargs) -> None:
        if not kwargs.get('final_norm', True):
            raise ValueError('NormedBlocksViT normalises every output with '
                             'the final norm; final_norm must be True')
        super().__init__(**kwargs)
        # ln1 is applied in _format_output, to every output block.
        self.final_norm = False

    def _format_output(self, x: torch.Tensor, hw) -> torch.Tensor:
        return super()._format_output(self.ln1(x), hw)
