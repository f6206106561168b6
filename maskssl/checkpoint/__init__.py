from .converter_cli import converter_parser, run_converter
from .export import (check_torchvision_resnet, detectron2_to_torchvision_key,
                     extract_backbone, publish_checkpoint, published_name,
                     resnet_depth, resnet_to_detectron2, timm_to_vit_key,
                     torchvision_to_detectron2_key, vit_to_timm,
                     vit_to_timm_key)
from .io import (backbone_state, check_output_path, describe_state_mismatch,
                 durable_replace, first_non_finite, load_backbone_weights,
                 read_checkpoint, save_atomic, select_prefix, strip_prefix,
                 umask_mode, write_file)
from .pretrained import (PretrainedLoad, check_pretrained,
                         find_pretrained_loads, verify_pretrained)
from .safe_load import allow_mmengine_checkpoint_types

__all__ = [
    'converter_parser', 'run_converter',
    'check_torchvision_resnet', 'detectron2_to_torchvision_key',
    'extract_backbone', 'publish_checkpoint', 'published_name',
    'resnet_depth', 'resnet_to_detectron2', 'timm_to_vit_key',
    'torchvision_to_detectron2_key', 'vit_to_timm', 'vit_to_timm_key',
    'backbone_state', 'check_output_path', 'describe_state_mismatch',
    'durable_replace', 'first_non_finite', 'load_backbone_weights',
    'read_checkpoint', 'save_atomic', 'select_prefix', 'strip_prefix',
    'umask_mode', 'write_file',
    'PretrainedLoad', 'check_pretrained', 'find_pretrained_loads',
    'verify_pretrained', 'allow_mmengine_checkpoint_types'
]
