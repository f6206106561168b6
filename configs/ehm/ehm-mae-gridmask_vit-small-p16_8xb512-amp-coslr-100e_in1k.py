# The "grid" column of EHM Table I and the "grid-like" row of Table III: the
# ViT-S ablation base with MAE's grid-wise mask (GridMasker: one patch of
# every 2 x 2 block kept, 75% masked; the kept position drawn per image).
_base_ = './ehm-mae_vit-small-p16_8xb512-amp-coslr-100e_in1k.py'

model = dict(masker=dict(_delete_=True, type='GridMasker', cell=2))
