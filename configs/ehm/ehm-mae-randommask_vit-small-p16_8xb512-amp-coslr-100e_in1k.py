# The "random" column of EHM Tables I and II: the ViT-S ablation base with
# MAE's own random mask (FixedRatioMasker: exactly 147 of the 196 patches
# at ratio 0.75, as MAEViT.random_masking) instead of EHM's. The masker asks
# for no guidance, so no attention pass runs: this is mmpretrain's MAE.
_base_ = './ehm-mae_vit-small-p16_8xb512-amp-coslr-100e_in1k.py'

model = dict(masker=dict(_delete_=True, type='FixedRatioMasker',
                         mask_ratio=0.75))
