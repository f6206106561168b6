"""Maps of learned representations, for the visualisation tools."""
from .evolved_masks import (build_ehm_model, evolved_mask_example,
                            plot_evolved_masks)
from .feature_maps import cluster_map, grad_cam, maskdeep_level_maps
from .mst_masks import (build_maskers, build_teacher, mst_mask_example,
                        plot_mst_masks)
from .saliency_masks import (build_fills, build_saliency,
                             plot_saliency_masks, read_image,
                             saliency_mask_example, sample_masked_views)

__all__ = [
    'cluster_map', 'grad_cam', 'maskdeep_level_maps', 'build_fills',
    'build_saliency', 'plot_saliency_masks', 'read_image',
    'saliency_mask_example', 'sample_masked_views', 'build_maskers',
    'build_teacher', 'mst_mask_example', 'plot_mst_masks', 'build_ehm_model',
    'evolved_mask_example', 'plot_evolved_masks'
]
