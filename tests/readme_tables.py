"""The machine-readable tables of the method READMEs (configs/*/README.md),
shared by the tests that build their rows.

A method README's "## Ablations ..." section holds one markdown table whose
rows name a config file (``Config``, relative to the README's folder) and
the ``--cfg-options`` of the row (``Options``, in backticks, shell-quoted as
a user types them; empty for the config as it is).
"""
import argparse
import shlex
from typing import Any, Dict, List

from mmengine.config import DictAction


def section_table(readme: str, heading: str) -> List[Dict[str, str]]:
    """The first markdown table of a README section, as one dict per row
    keyed by the header's cells.

    Args:
        readme (str): Path of the markdown file.
        heading (str): How the section's heading starts, e.g.
            ``'## Ablations'``; the section ends at the next ``## `` heading.

    Returns:
        list[dict]: Cells stripped of spaces and of enclosing backticks; the
        alignment row (``| :-- |``) is skipped.
    """
    with open(readme) as f:
        text = f.read()
    parts = text.split('\n' + heading)
    if len(parts) < 2:
        raise ValueError(f'{readme}: no section starting with "{heading}"')
    section = parts[1].split('\n## ')[0]
    lines = [line.strip() for line in section.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith('|'))
    table = []
    for line in lines[start:]:
        if not line.startswith('|'):
            break
        table.append([c.strip().strip('`')
                      for c in line.strip('|').split('|')])
    header, rows = table[0], table[1:]
    rows = [r for r in rows if not all(set(c) <= set(':- ') for c in r)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f'{readme}: row {row} has {len(row)} cells; '
                             f'the header {header} has {len(header)}')
    return [dict(zip(header, row)) for row in rows]


def ablation_rows(readme: str,
                  heading: str = '## Ablations') -> List[Dict[str, str]]:
    """The rows of the README's ablation table that name a config file (a
    ``Config`` cell ending in ``.py``), keyed by the header's cells."""
    return [row for row in section_table(readme, heading)
            if row.get('Config', '').endswith('.py')]


def parse_cfg_options(options: str) -> Dict[str, Any]:
    """``--cfg-options`` text as ``tools/train.py`` parses it: split like a
    shell (quotes removed), then mmengine's ``DictAction`` (``None``,
    booleans, numbers, lists and tuples). ``{}`` for an empty string."""
    if not options:
        return {}
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *shlex.split(options)
                              ]).cfg_options
