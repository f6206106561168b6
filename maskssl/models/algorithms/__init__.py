from .ehm_mae import EHMMAE
from .maskdeep import MaskDeep
from .mst import MST
from .saliency_mocov2 import SaliencyMoCoV2
from .saliency_simclr import SaliencySimCLR

__all__ = ['EHMMAE', 'MaskDeep', 'MST', 'SaliencyMoCoV2', 'SaliencySimCLR']
