# MAE's pre-training views (ehm_imagenet_bs512_mae.py) on the toy dataset
# (tools/dataset_converters/make_toy_dataset.py, 64-96 px scenes): a 32-px
# random resized crop of scale 0.2-1 (bicubic) and a horizontal flip, batch
# 32, 2 workers.
_base_ = './ehm_imagenet_bs512_mae.py'

dataset_type = 'CustomDataset'
data_root = 'data/toy/'

# the base's views with a 32-px crop
train_pipeline = [
    dict(t, scale=32) if t.type == 'RandomResizedCrop' else t
    for t in _base_.train_pipeline
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        ann_file='meta/train.txt',
        pipeline=train_pipeline))
