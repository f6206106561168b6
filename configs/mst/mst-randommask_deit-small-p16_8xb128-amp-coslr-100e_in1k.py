# MST Table 4, "Random Mask": every token of the student's global views
# masked with the same probability p = 0.1 as the attention-guided
# candidates (BERT-style, Eq. 3).
_base_ = './mst_deit-small-p16_8xb128-amp-coslr-100e_in1k.py'

model = dict(masker=dict(_delete_=True, type='RandomTokenMasker', p=0.1))
