from .concat_neck import ConcatNeck
from .dino_projection_neck import DINOProjectionNeck
from .global_image_decoder import GlobalImageDecoder
from .hierarchical_deep_masking_neck import HierarchicalDeepMaskingNeck
from .point_sampling_neck import PointSamplingNeck
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = [
    'ConcatNeck', 'DINOProjectionNeck', 'GlobalImageDecoder', 'HierarchicalDeepMaskingNeck', 'PointSamplingNeck', 'SimpleFeaturePyramid'
]
