"""Which branch of an online/momentum algorithm sees each augmented view.

A multi-view pipeline (:class:`maskssl.datasets.transforms.MultiViewWithRoles`)
stores one role per view in each sample's metainfo under ``view_roles``:

- ``'global'``: both branches; online predictions from it, and the momentum
  encoder's target for the other views (the two views of BYOL / MaskDeep);
- ``'local'``: the online branch only (multi-crop views, MaskDeep Table 8);
- ``'target'``: the momentum branch only (MaskDeep's multi-target views,
  Sec. 3.4); never reaches the online encoder.
"""
from typing import Sequence, Tuple

VIEW_ROLES = ('global', 'local', 'target')
ONLINE_ROLES = ('global', 'local')
MOMENTUM_ROLES = ('global', 'target')


def check_view_roles(roles: Sequence[str]) -> Tuple[str, ...]:
    """Validate a sequence of view roles.

    Raises:
        ValueError: on an unknown role.
    """
    unknown = sorted(set(roles) - set(VIEW_ROLES))
    if unknown:
        raise ValueError(f'unknown view roles {unknown}: expected each of '
                         f'{VIEW_ROLES}')
    return tuple(roles)


def view_roles_of(data_samples: Sequence, num_views: int) -> Tuple[str, ...]:
    """The view roles of a batch, which every sample must share.

    Args:
        data_samples (Sequence[DataSample]): the batch's samples.
        num_views (int): the number of input views.

    Returns:
        tuple[str]: one role per view.

    Raises:
        ValueError: if samples carry no roles, disagree, or list a number of
            roles other than ``num_views``.
    """
    roles = {tuple(s.metainfo.get('view_roles', ())) for s in data_samples}
    if roles == {()}:
        raise ValueError(
            "data samples carry no 'view_roles': build the views with "
            "dict(type='MultiViewWithRoles', ...) and pack them with "
            "dict(type='PackInputs', meta_keys=('img_path', 'view_roles'))")
    if len(roles) != 1:
        raise ValueError(f'samples of one batch disagree on view_roles: '
                         f'{sorted(roles)}')
    (batch_roles, ) = roles
    if len(batch_roles) != num_views:
        raise ValueError(f'view_roles lists {len(batch_roles)} views '
                         f'{batch_roles} but the batch has {num_views}')
    return check_view_roles(batch_roles)
