"""Maps of learned representations, for the visualisation tools."""
from .feature_maps import cluster_map, grad_cam, maskdeep_level_maps

__all__ = ['cluster_map', 'grad_cam', 'maskdeep_level_maps']
