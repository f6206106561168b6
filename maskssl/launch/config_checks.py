"""Checks on ``--cfg-options`` keys before they are merged into a config,
and on the dataset paths of a config before a run starts."""
import difflib
import os.path as osp
from typing import Any, Dict, List, Tuple

from mmengine.config import Config

from ..utils.config import iter_cfg_dicts


def _lookup(node: Any, key: str) -> Tuple[bool, Any]:
    if isinstance(node, dict):
        return (key in node), node.get(key)
    if isinstance(node, (list, tuple)) and key.isdigit():
        index = int(key)
        return index < len(node), node[index] if index < len(node) else None
    return False, None


def find_unknown_cfg_keys(cfg: Any, options: Dict[str, Any]) -> List[str]:
    """Describe every ``--cfg-options`` key that matches nothing in ``cfg``.

    mmengine's ``Config.merge_from_dict`` silently adds a key that does not
    exist, so a typo such as ``model.backbon.depth`` creates a new, unused
    entry and training runs with the old value.

    Args:
        cfg (dict): The loaded config (``Config`` or plain dict).
        options (dict): ``{'a.b.c': value}`` as parsed by ``DictAction``.

    Returns:
        list[str]: One message per unknown key, naming the first segment
        that is missing, where it was looked for, and close matches.
    """
    if isinstance(cfg, Config):
        cfg = cfg.to_dict()
    messages = []
    for full_key in options:
        node = cfg
        parts = full_key.split('.')
        for depth, part in enumerate(parts):
            found, child = _lookup(node, part)
            if found:
                node = child
                continue
            parent = '.'.join(parts[:depth]) or '<config root>'
            hint = ''
            if isinstance(node, dict):
                close = difflib.get_close_matches(part, list(node), n=3)
                if close:
                    hint = f'; did you mean {" or ".join(close)}?'
            messages.append(
                f'--cfg-options key "{full_key}": "{part}" is not a key of '
                f'{parent}; it is added as a new key{hint}')
            break
    return messages


def check_dataset_paths(cfg: Dict, fields: Tuple[str, ...] = (
        'train_dataloader', 'val_dataloader', 'test_dataloader')) -> None:
    """Fail early, naming the config key, when a dataloader's ``data_root`` or
    ``ann_file`` does not exist on local disk.

    Raises:
        FileNotFoundError: naming the key, the missing path and, for the toy
            dataset, the command that generates it.
    """
    for field in fields:
        loader = cfg.get(field)
        if not loader:
            continue
        for ds in iter_cfg_dicts(loader.get('dataset', {})):
            # dataset wrappers nest the datasets that have the paths
            if 'data_root' not in ds and 'ann_file' not in ds:
                continue
            root = ds.get('data_root') or ''
            checks = [('data_root', root)] if root else []
            ann = ds.get('ann_file')
            if ann:
                checks.append(('ann_file', ann if osp.isabs(ann) or not root
                               else osp.join(root, ann)))
            for key, path in checks:
                if '://' in str(path) or osp.exists(path):
                    continue
                hint = ''
                if 'toy' in str(path):
                    hint = (' Generate the toy dataset with `python tools/'
                            'dataset_converters/make_toy_dataset.py '
                            f'{root or "data/toy"}`.')
                raise FileNotFoundError(
                    f'{field}.dataset.{key}: "{path}" does not exist; '
                    f'expected a {"file" if key == "ann_file" else "folder"} '
                    f'of the {ds.get("type", "dataset")} dataset.{hint}')
