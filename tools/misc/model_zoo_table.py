"""Print the model zoo as a markdown table, from model-index.yml.

Usage:
    python tools/misc/model_zoo_table.py [--index model-index.yml]
    python tools/misc/model_zoo_table.py --write README.md

One row per metafile entry; one column per (benchmark config, dataset,
metric) found in any entry's results, numbered by benchmark config with the
configs listed under the table. Paper-reported values carry a dagger; a
missing value or weight is an em dash. ``--write`` replaces the text between
``<!-- model-zoo:start -->`` and ``<!-- model-zoo:end -->`` in the given file.
Paths in the metafiles and the table are relative to the repository root.
"""
import argparse
import os.path as osp
from typing import Dict, List, Tuple

import yaml

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
START = '<!-- model-zoo:start -->'
END = '<!-- model-zoo:end -->'
PAPER_MARK = '†'
EMPTY = '—'

Column = Tuple[str, str, str]  # (benchmark config, dataset, metric)


def load_models(index: str = osp.join(REPO, 'model-index.yml')) -> List[Dict]:
    """The ``Models`` entries of every metafile that ``index`` imports, in
    import order."""
    with open(index) as f:
        imports = yaml.safe_load(f)['Import']
    models = []
    for path in imports:
        with open(osp.join(osp.dirname(index), path)) as f:
            models.extend(yaml.safe_load(f).get('Models') or [])
    return models


def result_columns(models: List[Dict]) -> List[Column]:
    """Every (config, dataset, metric) of the models' results, in order of
    first appearance."""
    columns: Dict[Column, None] = {}
    for model in models:
        for result in model.get('Results') or []:
            for metric in result['Metrics']:
                columns[(result['Config'], result['Dataset'], metric)] = None
    return list(columns)


def format_table(models: List[Dict]) -> str:
    """The markdown table of ``models``, followed by its notes."""
    columns = result_columns(models)
    configs = list(dict.fromkeys(config for config, _, _ in columns))
    header = ['Method', 'Config', 'Epochs'] + [
        f'{dataset} {metric} ({configs.index(config) + 1})'
        for config, dataset, metric in columns
    ] + ['Weights']
    lines = ['| ' + ' | '.join(header) + ' |',
             '| :-- | :-- | :-: |' + ' :-: |' * len(columns) + ' :-: |']
    for model in models:
        values = {}
        for result in model.get('Results') or []:
            mark = PAPER_MARK if result.get('Paper-reported') else ''
            for metric, value in result['Metrics'].items():
                values[(result['Config'], result['Dataset'],
                        metric)] = f'{value}{mark}'
        weights = model.get('Weights')
        row = [model['In Collection'], f"[{model['Name']}]({model['Config']})",
               str(model.get('Metadata', {}).get('Epochs', EMPTY))]
        row += [values.get(column, EMPTY) for column in columns]
        row.append(f'[model]({weights})' if weights else EMPTY)
        lines.append('| ' + ' | '.join(row) + ' |')
    lines.append('')
    lines += [f'- ({i}) [{config}]({config})'
              for i, config in enumerate(configs, 1)]
    lines.append(f'- {PAPER_MARK} paper-reported; {EMPTY} not available.')
    return '\n'.join(lines) + '\n'


def replace_section(text: str, table: str) -> str:
    """``text`` with everything between the model-zoo markers replaced by
    ``table``."""
    if text.count(START) != 1 or text.count(END) != 1 or \
            text.index(START) > text.index(END):
        raise ValueError(f'expected one "{START}" followed by one "{END}"')
    head, rest = text.split(START)
    tail = rest.split(END)[1]
    return f'{head}{START}\n{table}{END}{tail}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--index', default=osp.join(REPO, 'model-index.yml'),
                        help='model-index.yml importing the metafiles')
    parser.add_argument('--write', metavar='MARKDOWN',
                        help='replace the model-zoo section of this file '
                        'instead of printing the table')
    args = parser.parse_args()
    table = format_table(load_models(args.index))
    if args.write is None:
        print(table, end='')
        return
    with open(args.write) as f:
        text = f.read()
    with open(args.write, 'w') as f:
        f.write(replace_section(text, table))


if __name__ == '__main__':
    main()
