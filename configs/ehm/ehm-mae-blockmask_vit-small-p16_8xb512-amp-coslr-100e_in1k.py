# The "block" column of EHM Table I and the "large block" row of Table III:
# the ViT-S ablation base with BEiT's block-wise mask (BlockMasker:
# rectangles of at least 16 patches, aspect 0.3-3.3, until exactly 147 of
# the 196 are masked). The paper gives no block parameters; these are BEiT's
# at MAE's ratio 0.75, which all columns share.
_base_ = './ehm-mae_vit-small-p16_8xb512-amp-coslr-100e_in1k.py'

model = dict(masker=dict(_delete_=True, type='BlockMasker', mask_ratio=0.75))
