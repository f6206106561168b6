from .hierarchical_deep_masking_neck import HierarchicalDeepMaskingNeck
from .point_sampling_neck import PointSamplingNeck

__all__ = ['HierarchicalDeepMaskingNeck', 'PointSamplingNeck']
