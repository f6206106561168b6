"""Walking nested configs."""
from typing import Any, Iterator


def iter_cfg_dicts(node: Any) -> Iterator[dict]:
    """Every dict nested in a config node, through dicts, lists and tuples,
    each before the dicts inside it. Callers may change the values of a
    yielded dict's existing keys."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from iter_cfg_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from iter_cfg_dicts(value)
