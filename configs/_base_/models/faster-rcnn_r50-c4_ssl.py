# Faster R-CNN R50-C4 for SSL transfer: the Mask R-CNN C4 SSL model without
# its mask branch (the mask-only train/test settings are unused).
_base_ = './mask-rcnn_r50-c4_ssl.py'

model = dict(
    type='FasterRCNN',
    data_preprocessor=dict(pad_mask=False),
    roi_head=dict(mask_head=None))
