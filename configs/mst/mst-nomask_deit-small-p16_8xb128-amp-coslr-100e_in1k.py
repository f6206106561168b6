# MST Table 4, "None": no token masked (DINO with the global image decoder).
_base_ = './mst_deit-small-p16_8xb128-amp-coslr-100e_in1k.py'

model = dict(masker=None)
