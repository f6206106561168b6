# ResNet-50 linear probe on ImageNet-100 for models pretrained with the
# high-pass fill (saliency-mocov2-highpass_*, saliency-simclr-highpass_*;
# Table 1's "OURS (High-pass filtering)"): resnet50_8xb32-linear-steplr-
# 100e_in100.py with the pretraining's high-pass input x - GaussianBlur(x)
# (kernel 11, std 5, HighPassFill's) on the normalised batch, in training
# and testing ("in the downstream tasks the input data should follow the
# same form", Sec. 3.2 and 4.1).
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = './resnet50_8xb32-linear-steplr-100e_in100.py'

# merged into the base's data_preprocessor (mean, std, to_rgb, num_classes)
data_preprocessor = dict(
    type='HighPassClsDataPreprocessor', blur_kernel_size=11, blur_sigma=5.0)
model = dict(data_preprocessor=data_preprocessor)
