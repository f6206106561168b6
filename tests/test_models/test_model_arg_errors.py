"""Integer arguments of the necks and MaskDeep's momentum are checked in the
constructors, so a bad ``--cfg-options`` value stops the model build with a
message naming the argument, not a torch error at the first forward."""
import argparse
import os.path as osp
import re

import pytest
from mmpretrain.registry import MODELS

from conftest import REPO
from maskssl.launch import add_launch_args, load_config

T = osp.join(REPO, 'configs/maskdeep/'
             'maskdeep_resnet18-w32_1xb32-coslr-10e_toy.py')


@pytest.mark.parametrize('neck', ['PointSamplingNeck',
                                  'HierarchicalDeepMaskingNeck'])
@pytest.mark.parametrize('key', ['num_groups', 'num_points'])
@pytest.mark.parametrize('value', ['abc', 2.5, True, 0, -3, None])
def test_neck_integer_arguments(neck, key, value):
    cfg = dict(type=neck, in_channels=[8, 16], **{key: value})
    with pytest.raises(ValueError, match=re.escape(
            f'{neck}: {key}={value!r} ({type(value).__name__}); expected a '
            'positive int')):
        MODELS.build(cfg)


@pytest.mark.parametrize('cfg, message', [
    (dict(type='HierarchicalDeepMaskingNeck', in_channels=[8],
          out_channels=6.0), 'out_channels=6.0 (float)'),
    (dict(type='PointSamplingNeck', in_channels=[8, 'x']),
     "in_channels[1]='x' (str)"),
    (dict(type='PointSamplingNeck', in_channels=512),
     'in_channels=512; expected a non-empty list'),
    (dict(type='PointSamplingNeck', in_channels=[]),
     'in_channels=[]; expected a non-empty list'),
    (dict(type='SimpleFeaturePyramid', in_channels=32, num_outs=4.5),
     'num_outs=4.5 (float)'),
    (dict(type='SimpleFeaturePyramid', in_channels='768'),
     "in_channels='768' (str)"),
])
def test_other_neck_arguments(cfg, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MODELS.build(cfg)


@pytest.mark.parametrize('option, message', [
    ('model.neck.num_groups=abc', "num_groups='abc' (str)"),
    ('model.neck.num_groups=2.5', 'num_groups=2.5 (float)'),
    ('model.neck.num_points=True', 'num_points=True (bool)'),
])
def test_cfg_options_value_stops_the_build(option, message):
    """``--cfg-options model.neck.num_groups=abc`` on the toy config."""
    parser = argparse.ArgumentParser()
    add_launch_args(parser)
    args = parser.parse_args(['--cfg-options', option])
    cfg = load_config(T, args.cfg_options)
    with pytest.raises(ValueError, match=re.escape(
            f'HierarchicalDeepMaskingNeck: {message}; expected a positive '
            'int')):
        MODELS.build(cfg.model)


@pytest.mark.parametrize('value', ['abc', -0.1, 1.5, True, float('nan')])
def test_maskdeep_base_momentum(value):
    cfg = load_config(T, {'model.base_momentum': value})
    with pytest.raises(ValueError, match=r'MaskDeep: base_momentum=.*'
                       r'expected a number in \[0, 1\]'):
        MODELS.build(cfg.model)
