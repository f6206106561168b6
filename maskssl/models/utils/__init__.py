from .point_sampling import (draw_point_indices, gather_point_groups,
                             sample_point_groups)

__all__ = ['draw_point_indices', 'gather_point_groups', 'sample_point_groups']
