from .concat_neck import ConcatNeck
from .hierarchical_deep_masking_neck import HierarchicalDeepMaskingNeck
from .point_sampling_neck import PointSamplingNeck
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = [
    'ConcatNeck', 'HierarchicalDeepMaskingNeck', 'PointSamplingNeck', 'SimpleFeaturePyramid'
]
