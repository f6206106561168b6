# ResNet-50 linear probe on TinyImageNet for models pretrained with the
# high-pass fill (saliency-mocov2-highpass_resnet50_4xb32-coslr-200e_
# tinyin200.py): resnet50_8xb32-linear-steplr-100e_tinyin200.py with the
# high-pass input of resnet50_8xb32-linear-steplr-100e_in100-highpass.py
# (x - GaussianBlur(x), kernel 11, std 5, on the normalised batch, in
# training and testing; Sec. 3.2 and 4.1).
# Usage: tools/benchmarks/classification/dist_linear.sh THIS_CONFIG CKPT 8
_base_ = './resnet50_8xb32-linear-steplr-100e_tinyin200.py'

# merged into the base's data_preprocessor (mean, std, to_rgb, num_classes)
data_preprocessor = dict(
    type='HighPassClsDataPreprocessor', blur_kernel_size=11, blur_sigma=5.0)
model = dict(data_preprocessor=data_preprocessor)
