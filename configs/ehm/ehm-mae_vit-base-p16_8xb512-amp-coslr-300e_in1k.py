# EHM's MAE, ViT-B/16, 300 epochs on ImageNet-1k at batch 4096 (8 GPUs x
# 512): the paper's main setting (Sec. V-B: 300 epochs, mask ratio 0.75;
# Table VI's "Ours, 300 epochs" row) on mmpretrain's MAE recipe
# (mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py): AdamW (0.9, 0.95), wd
# 0.05, lr 1.5e-4 x 4096 / 256, 40 warm-up epochs, cosine, AMP, normalised
# pixel targets. The mask is Evolved Hierarchical Masking's, guided by the
# attention of the first 6 blocks (Sec. V-E).
_base_ = [
    '../_base_/models/ehm-mae_vit-base-p16.py',
    '../_base_/datasets/ehm_imagenet_bs512_mae.py',
    '../_base_/schedules/ehm_imagenet_adamw_coslr-300e_mae.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(logger=dict(interval=50))
# MAE's: one seed, offset per rank
randomness = dict(seed=0, diff_rank_seed=True)
