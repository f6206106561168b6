# The toy config with MAE's random mask (FixedRatioMasker, 48 of the 64
# patches) instead of EHM's, everything else the same: the side-by-side run
# of the toy demo.
_base_ = './ehm-mae_vit-tiny-p4_1xb32-coslr-10e_toy.py'

model = dict(masker=dict(_delete_=True, type='FixedRatioMasker',
                         mask_ratio=0.75))
