"""The high-pass input of the saliency-guided masking paper's high-pass
models for their downstream classifiers (https://arxiv.org/abs/2309.12757,
Sec. 3.2 and 4.1: "for the feature encoder pretrained by using the high-pass
filtering masking strategy, its input in the downstream task should still be
firstly gone through the high-pass filter")."""
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.registry import MODELS

from ..saliency.fills import (check_blur_fits, check_odd_kernel,
                              check_positive, high_pass)


@MODELS.register_module()
class HighPassClsDataPreprocessor(ClsDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` followed by the high-pass filter
    ``x - GaussianBlur(x)`` of :class:`~maskssl.models.saliency.HighPassFill`.

    The filter is the pretraining's own function
    (:func:`maskssl.models.saliency.fills.high_pass`, which
    ``HighPassFill.input_transform`` calls) with the same defaults (kernel
    11, std 5), applied to the *normalised* batch as in pretraining, in
    training and in testing. Give ``mean``, ``std`` and ``to_rgb`` as in the
    pretraining's ``data_preprocessor`` (the configs' ImageNet statistics,
    RGB), so that the classifier sees what the encoder was trained on;
    without ``mean`` and ``std`` it raises a ``ValueError``.

    Everything of ``ClsDataPreprocessor`` (colour order, normalisation,
    padding, labels, batch augments) runs first, unchanged; the filter then
    applies to its ``inputs``. With padding (``pad_size_divisor > 1``) the
    padded border is filtered too, and batch augments (Mixup, CutMix) are
    filtered after mixing; the linear-probe configs use neither.

    Args:
        *args: ``ClsDataPreprocessor``'s positional arguments.
        blur_kernel_size (int): Kernel of the filter's Gaussian blur, odd.
            Defaults to 11 (``HighPassFill``'s default).
        blur_sigma (float): Its std. Defaults to 5 (``HighPassFill``'s
            default).
        **kwargs: ``ClsDataPreprocessor``'s keyword arguments (``mean``,
            ``std``, ``to_rgb``, ``num_classes``, ...).
    """

    def __init__(self,
                 *args,
                 blur_kernel_size: int = 11,
                 blur_sigma: float = 5.0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        owner = type(self).__name__
        if not self._enable_normalize:
            raise ValueError(
                f'{owner}: no mean and std given; the high-pass filter of '
                'pretraining works on normalised images, so give the '
                "pretraining data_preprocessor's mean and std")
        self.blur_kernel_size = check_odd_kernel(blur_kernel_size,
                                                 'blur_kernel_size', owner)
        self.blur_sigma = check_positive(blur_sigma, 'blur_sigma', owner)

    def forward(self, data: dict, training: bool = False) -> dict:
        """``ClsDataPreprocessor.forward``, then the high-pass filter of its
        ``(B, C, H, W)`` ``inputs``; the data samples pass through."""
        data = super().forward(data, training)
        inputs = data['inputs']
        check_blur_fits(inputs.shape[-2:], self.blur_kernel_size,
                        'blur_kernel_size', type(self).__name__)
        data['inputs'] = high_pass(inputs, self.blur_kernel_size,
                                   self.blur_sigma)
        return data
