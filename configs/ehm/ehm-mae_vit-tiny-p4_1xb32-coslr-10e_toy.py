# EHM's MAE on the toy dataset (`tools/demo.py --config`, tests): a 4-block
# ViT (192-d, 3 heads) on 4-px patches at 32 px (an 8 x 8 grid of 64
# patches), the masker guided by the attention of its first 2 blocks (half
# the depth, as 6 of ViT-B's 12, Sec. V-E), a 1-block 128-d decoder, batch
# 32, 10 epochs (620 iterations of the 2000 training images). The mask (EHM,
# ratio 0.75, depth evolving over the 620 iterations), the loss and AdamW's
# betas and weight decay are the ImageNet config's; the lr is 1.5e-3 (MAE's
# 1.5e-4 x 32 / 256 would be 1.9e-5) with 1 warm-up epoch, cosine over the
# other 9, no AMP (CPU).
_base_ = [
    '../_base_/models/ehm-mae_vit-base-p16.py',
    '../_base_/datasets/ehm_toy_bs32_mae.py',
    '../_base_/schedules/ehm_imagenet_adamw_coslr-300e_mae.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3,
                  feedforward_channels=768),
        patch_size=4,
        img_size=32,
        # features of a plain forward (kNN): the class token, as DINO's kNN
        # and MAE's linear probe take; the mean of MAE's tokens is
        # dominated by their shared position embedding
        out_type='cls_token'),
    neck=dict(num_patches=64, patch_size=4, embed_dim=192,
              decoder_embed_dim=128, decoder_depth=1, decoder_num_heads=4),
    head=dict(patch_size=4),
    attention_layers=2)

# no AMP (CPU): the base's AdamW and weight decay exceptions in a plain
# OptimWrapper, at lr 1.5e-3
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(_base_.optim_wrapper.optimizer, lr=1.5e-3),
    paramwise_cfg=_base_.optim_wrapper.paramwise_cfg)
max_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=0.0001, by_epoch=True, begin=0,
         end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(max_keep_ckpts=1))
# kNN on the toy split (tools/benchmarks/knn_eval.py, tools/demo.py)
knn = dict(k=[20], temperature=0.07, img_size=32)
