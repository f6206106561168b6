# The ablation setting of the saliency-masking paper (Sec. 4.3, Tables 4-8),
# BlurFill strategy: MoCo v2, ResNet-50, 200 epochs on TinyImageNet, the positive
# masking ratio fixed at 15% of the image and hard negatives masking 40-70%
# of the salient cells. The ablation rows are --cfg-options of this config
# (configs/saliency_mask/README.md, "Ablations").
_base_ = [
    '../_base_/models/saliency-mocov2_resnet50.py',
    '../_base_/datasets/tinyimagenet_bs32_mocov2.py',
    '../_base_/schedules/imagenet_sgd_coslr-200e_saliency-mocov2.py',
    '../_base_/default_runtime.py',
]

model = dict(fill=dict(type='BlurFill', masker=dict(type='SaliencyCellMasker',
                                                alpha=(0.15, 0.15))))
