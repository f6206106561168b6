"""Checks on config files as they are read, on ``--cfg-options`` keys before
they are merged into a config, and on the datasets of a config (paths, sizes)
before a run starts."""
import ast
import difflib
import math
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config
from mmpretrain.registry import MODELS

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


def _base_files(tree: ast.Module, path: str) -> List[str]:
    """The local files named by the ``_base_`` of a parsed config, resolved
    as mmengine resolves them (relative to the config's folder); package
    bases (``mmdet::...``) and bases with predefined variables are left
    out."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == '_base_'):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:  # not a literal: mmengine will say so
                return []
            if isinstance(bases, str):
                bases = [bases]
            if not isinstance(bases, (list, tuple)):
                return []
            return [osp.normpath(osp.join(osp.dirname(path), base))
                    for base in bases
                    if isinstance(base, str) and '::' not in base
                    and '{{' not in base]
    return []


def find_config_syntax_error(path: str) -> Optional[SyntaxError]:
    """The first syntax error of a python config file or of the local
    ``_base_`` files it inherits from, depth first.

    mmengine parses config files without their names, so its
    ``SyntaxError`` reads ``File "<unknown>"``; this parses each file again
    with its name.

    Args:
        path (str): The config file.

    Returns:
        SyntaxError or None: With ``filename``, ``lineno`` and ``text`` of the
        file that has the error; ``None`` when every file parses.
    """
    todo, seen = [path], set()
    while todo:
        current = todo.pop(0)
        if current in seen or not osp.isfile(current):
            continue
        seen.add(current)
        with open(current, encoding='utf-8') as f:
            source = f.read()
        try:
            tree = ast.parse(source, filename=current)
        except SyntaxError as error:
            return error
        todo[:0] = _base_files(tree, current)
    return None


def describe_syntax_error(error: SyntaxError, config: str) -> str:
    """A message naming the file, line and text of a config syntax error
    (``config``: the file that was loaded, named when the error is in one
    of its ``_base_`` files)."""
    where = f'config file "{error.filename}"'
    if osp.abspath(str(error.filename)) != osp.abspath(config):
        where += f' (a _base_ of "{config}")'
    text = (error.text or '').rstrip('\n')
    line = f':\n    {text}' if text.strip() else ''
    return (f'{where}, line {error.lineno}: {error.msg}; expected valid '
            f'python{line}')


def check_model_type(cfg: Dict, path: str, base: type,
                     expected: str) -> None:
    """Refuse a config whose ``model.type`` is not ``base`` or a subclass
    of it (names resolved in mmpretrain's ``MODELS``), for tools that work
    with one kind of model only.

    Args:
        cfg (dict): The loaded config.
        path (str): Its file, for the message.
        base (type): The model class required, e.g. ``MaskDeep``.
        expected (str): What the message says was expected, e.g. ``'a
            MaskDeep config such as configs/maskdeep/...'``.

    Raises:
        ValueError: naming the config file, the model type found and
            ``expected``.
    """
    model_type = (cfg.get('model') or {}).get('type')
    model_class = (MODELS.get(model_type) if isinstance(model_type, str)
                   else model_type)
    if not (isinstance(model_class, type) and issubclass(model_class, base)):
        raise ValueError(
            f'config "{path}": model.type={model_type!r} is not a '
            f'{base.__name__}; expected {expected}')


def _ann_file_path(ds: Dict) -> Optional[str]:
    """The ``ann_file`` of a dataset config joined to its ``data_root``
    (as mmengine's ``BaseDataset`` joins them), ``None`` without one."""
    ann, root = ds.get('ann_file'), ds.get('data_root') or ''
    if not ann:
        return None
    return ann if osp.isabs(ann) or not root else osp.join(root, ann)


def _path_datasets(cfg: Dict, fields: Tuple[str, ...]
                   ) -> Iterator[Tuple[str, Dict, Dict]]:
    """``(field, loader, dataset)`` for every dataset config with a
    ``data_root`` or an ``ann_file`` in the loaders ``fields`` of ``cfg``,
    wrapped ones included."""
    for field in fields:
        loader = cfg.get(field)
        if not loader:
            continue
        for ds in iter_cfg_dicts(loader.get('dataset', {})):
            # dataset wrappers nest the datasets that have the paths
            if 'data_root' in ds or 'ann_file' in ds:
                yield field, loader, ds


def check_dataset_paths(cfg: Dict, fields: Tuple[str, ...] = (
        'train_dataloader', 'val_dataloader', 'test_dataloader')) -> None:
    """Fail early, naming the config key, when a dataloader's ``data_root`` or
    ``ann_file`` does not exist on local disk.

    Raises:
        FileNotFoundError: naming the key, the missing path and, for the toy
            dataset, the command that generates it.
    """
    for field, _, ds in _path_datasets(cfg, fields):
        root = ds.get('data_root') or ''
        checks = [('data_root', root)] if root else []
        ann = _ann_file_path(ds)
        if ann:
            checks.append(('ann_file', ann))
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


def count_annotation_lines(path: str) -> int:
    """The non-empty lines of a text annotation file: the samples of an
    mmpretrain ``CustomDataset`` (one ``path [label]`` line each)."""
    with open(path, encoding='utf-8', errors='replace') as f:
        return sum(1 for line in f if line.strip())


def check_dataset_sizes(cfg: Dict, fields: Tuple[str, ...] = (
        'train_dataloader', 'val_dataloader', 'test_dataloader')) -> None:
    """Fail early, naming the config key, when a dataloader's text
    ``ann_file`` lists no samples, or fewer than one batch per rank where
    the loader drops the last incomplete batch.

    mmengine reports the first as ``need at least one array to
    concatenate`` and the second as ``epoch_length must be a positive
    integer``. Only local ``.txt`` annotation files are counted (reading
    them is cheap); folder datasets and other formats are left alone. The
    number of ranks is ``WORLD_SIZE`` from the environment (1 without it):
    ``DefaultSampler`` gives each rank ``ceil(n / WORLD_SIZE)`` samples.

    Raises:
        ValueError: naming the key, the file, the count and, for the second
            case, the batch size and the number of ranks.
    """
    world_size = int(os.environ.get('WORLD_SIZE', '1') or 1)
    for field, loader, ds in _path_datasets(cfg, fields):
        path = _ann_file_path(ds)
        if (not path or '://' in path or not path.endswith('.txt')
                or not osp.isfile(path)):
            continue
        count = count_annotation_lines(path)
        key = f'{field}.dataset.ann_file'
        if count == 0:
            raise ValueError(
                f'{key}: "{path}" lists no samples (no non-empty line); '
                'expected one line per image ("path" or "path label")')
        if ds is not loader.get('dataset') or not loader.get('drop_last'):
            continue  # a wrapped dataset's size is not the loader's
        batch_size = loader.get('batch_size', 1)
        if math.ceil(count / world_size) < batch_size:
            ranks = (f' on each of WORLD_SIZE={world_size} ranks'
                     if world_size > 1 else '')
            raise ValueError(
                f'{key}: "{path}" lists {count} samples, fewer than one batch '
                f'({field}.batch_size={batch_size}{ranks}), and '
                f'{field}.drop_last=True drops it: an epoch would have no '
                f'iteration; expected at least {batch_size * world_size} '
                f'samples, or a smaller {field}.batch_size, or '
                f'{field}.drop_last=False')
