# The "Naive" row of MaskDeep's Table 2 (64.9 top-1 linear): one group of
# k = 12 points sampled straight from C5 (2048-d), no hierarchical module, no
# multi-group (K = 1) and no extra targets (N = 0).
_base_ = './maskdeep_resnet50_16xb64-coslr-100e_in1k.py'

model = dict(
    backbone=dict(out_indices=(3, )),
    neck=dict(_delete_=True, type='PointSamplingNeck', in_channels=[2048],
              num_groups=1, num_points=12),
    head=dict(predictor=dict(in_channels=12 * 2048)))

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiViewWithRoles', num_views=[2], roles=['global'],
         transforms=[{{_base_.online_view}}]),
    dict(type='PackInputs', meta_keys=('img_path', 'view_roles')),
]))
