from .imagenet_subset import read_class_list, write_imagenet_subset
from .tiny_imagenet import write_tiny_imagenet
from .toy_dataset import write_toy_dataset
from .toy_scenes import TOY_CLASSES, ToyObject, ToyScene, make_scene
from .transforms import *  # noqa: F401,F403

__all__ = [
    'TOY_CLASSES', 'ToyObject', 'ToyScene', 'make_scene', 'write_toy_dataset',
    'read_class_list', 'write_imagenet_subset', 'write_tiny_imagenet'
]
