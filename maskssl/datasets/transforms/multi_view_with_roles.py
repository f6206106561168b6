"""Multi-view augmentation that records which branch sees each view."""
from typing import List, Sequence, Union

from mmpretrain.datasets.transforms import MultiView
from mmpretrain.registry import TRANSFORMS

from maskssl.structures import check_view_roles


@TRANSFORMS.register_module()
class MultiViewWithRoles(MultiView):
    """mmpretrain's ``MultiView`` plus a role per view group.

    Views come out in the order of ``transforms`` (``img`` becomes a list),
    and ``results['view_roles']`` holds one role per view, from
    ``'global'``, ``'local'`` and ``'target'`` (see
    :mod:`maskssl.structures.view_roles`). Pack it with
    ``dict(type='PackInputs', meta_keys=('img_path', 'view_roles'))`` so the
    data preprocessor and the algorithm receive it in each sample's metainfo.

    Example, MaskDeep's two online views and four momentum-only targets::

        dict(type='MultiViewWithRoles', num_views=[2, 4],
             roles=['global', 'target'], transforms=[view, view])

    Args:
        transforms (list[list[dict]]): one pipeline per view group.
        num_views (int or list[int]): views per group.
        roles (Sequence[str]): one role per group.
    """

    def __init__(self, transforms: List[List[dict]],
                 num_views: Union[int, List[int]],
                 roles: Sequence[str]) -> None:
        super().__init__(transforms, num_views)
        if len(roles) != len(self.num_views):
            raise ValueError(f'roles {list(roles)} must give one role per '
                             f'view group ({len(self.num_views)} groups)')
        self.roles = check_view_roles(roles)
        self.view_roles = tuple(
            role for role, n in zip(self.roles, self.num_views)
            for _ in range(n))

    def transform(self, results: dict) -> dict:
        """Apply every view's pipeline; add ``view_roles``.

        Returns:
            dict: ``img`` a list of views, ``view_roles`` a tuple of roles.
        """
        results = super().transform(results)
        results['view_roles'] = self.view_roles
        return results

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, roles={list(self.roles)})'
