from .ehm_beit import EHMBEiT
from .ehm_mae import EHMMAE
from .ehm_simmim import EHMSimMIM
from .maskdeep import MaskDeep
from .mst import MST
from .saliency_mocov2 import SaliencyMoCoV2
from .saliency_simclr import SaliencySimCLR

__all__ = [
    'EHMBEiT', 'EHMMAE', 'EHMSimMIM', 'MaskDeep', 'MST', 'SaliencyMoCoV2',
    'SaliencySimCLR'
]
