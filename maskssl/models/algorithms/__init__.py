from .maskdeep import MaskDeep
from .saliency_mocov2 import SaliencyMoCoV2
from .saliency_simclr import SaliencySimCLR

__all__ = ['MaskDeep', 'SaliencyMoCoV2', 'SaliencySimCLR']
