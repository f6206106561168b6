# MST, Swin-T, 100 epochs on ImageNet-1k at batch 1024 (8 GPUs x 128): MST
# Table 1's Swin-T row and the backbone of its Table 2 (Mask R-CNN on COCO).
# "Swin-T shares the same hyperparameters with DeiT-S" (Sec. 4.2): the DeiT-S
# config's views, schedule, head, loss, masker and hooks as they are, with
# - the backbone: mmpretrain's Swin-T (patch 4, window 7) with MST's token
#   mask and attention (MSTSwinTransformer). Its tokens are the 7 x 7 last
#   stage (stride 32): the teacher's importance is read in the last block
#   (one window at 224 px) and a masked token hides a 32 x 32 px cell (its
#   8 x 8 patch embeddings). The projection head reads the mean of those
#   normed tokens (768-d), for the local crops too (out_type='avg_featmap').
#   Drop path 0.1, DeiT-S's (DINO's ViT-S) rate, as "the same
#   hyperparameters" says (MoBY's Swin-T uses 0.2, supervised Swin-T 0.2).
#   Linear layers start truncated normal, std 0.02, as the original Swin's
#   (and SimMIM's) init; PyTorch's default otherwise.
# - the global image decoder: five 2x upsamplings (stride 32 -> 224 px),
#   DeiT-S's widths with one more stage in front.
_base_ = './mst_deit-small-p16_8xb128-amp-coslr-100e_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MSTSwinTransformer',
        arch='tiny',
        img_size=224,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02,
                      bias=0.)),
    neck=dict(in_channels=768),
    decoder=dict(in_channels=768, channels=(512, 256, 128, 64, 32)))
