"""Image loading whose decoding errors name the image file."""
import os.path as osp
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS


def _file_size(path: str) -> str:
    """``'N bytes'`` of a local file, ``'size unknown'`` otherwise."""
    try:
        return f'{osp.getsize(path)} bytes'
    except OSError:
        return 'size unknown'


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile``; an image that cannot be decoded raises a
    ``ValueError`` naming the file and its size.

    mmcv's transform lets the decoder's error through as it is: a zero-byte
    file gives ``cv2.error: ... !buf.empty() in function 'imdecode_'`` and
    a file cv2 cannot decode ``AssertionError: failed to load image`` (an
    ``assert``, gone under ``python -O``), raised in a dataloader worker
    that knows the sample's index, not its file. The path is known only
    inside the transform, so this is where the error is completed: a
    subclass keeps mmcv's arguments and behaviour for every readable image
    (``ignore_empty``, ``backend_args``, ``to_float32``, ...), and our
    dataset configs (``configs/_base_/datasets/``) and the kNN loaders name
    it, as they name ``MultiViewWithRoles``. Registering it under mmcv's
    name instead would change ``LoadImageFromFile`` behind every config
    that uses mmpretrain's registry, ours or not.

    An error that names its file already (a missing file's
    ``FileNotFoundError``) is raised as it is.
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` as mmcv does.

        Raises:
            ValueError: naming the file, its size, the decoding backend and
                the decoder's error, when the file is not a decodable image.
        """
        path = results['img_path']
        try:
            return super().transform(results)
        except Exception as error:
            if isinstance(error, OSError) and error.filename is not None:
                raise  # e.g. a missing file: already named
            kind = type(error).__name__
            if type(error).__module__ != 'builtins':
                kind = f'{type(error).__module__}.{kind}'
            reason = ' '.join(str(error).split())
            raise ValueError(
                f'image "{path}" ({_file_size(path)}) cannot be decoded by '
                f'{self.imdecode_backend} ({kind}: {reason}); expected an '
                'image file: replace it, or remove it from the dataset\'s '
                'ann_file') from error
