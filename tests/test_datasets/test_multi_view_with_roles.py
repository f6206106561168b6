"""The multi-view transform that marks online and target-only views."""
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS


def _pipeline(num_views=(2, 4), roles=('global', 'target')):
    return [
        TRANSFORMS.build(dict(
            type='MultiViewWithRoles', num_views=list(num_views), roles=roles,
            transforms=[[dict(type='RandomResizedCrop', scale=32)],
                        [dict(type='RandomResizedCrop', scale=16)]])),
        TRANSFORMS.build(dict(type='PackInputs',
                              meta_keys=('img_path', 'view_roles'))),
    ]


def test_views_are_packed_with_roles():
    results = dict(img=np.random.randint(0, 255, (40, 50, 3), np.uint8),
                   img_path='x.png')
    for t in _pipeline():
        results = t(results)
    assert [tuple(v.shape) for v in results['inputs']] == \
        [(3, 32, 32)] * 2 + [(3, 16, 16)] * 4
    assert results['data_samples'].view_roles == \
        ('global', ) * 2 + ('target', ) * 4


def test_bad_roles():
    with pytest.raises(ValueError, match='one role per view group'):
        _pipeline(roles=('global', ))
    with pytest.raises(ValueError, match='unknown view roles'):
        _pipeline(roles=('global', 'momentum'))
