"""model-index.yml and the metafiles: one entry per pretraining config, paths
that exist, metadata that matches the configs, the paper's numbers as in
configs/maskdeep/README.md, and the README table as the tool prints it."""
import glob
import importlib.util
import os.path as osp
import re
import subprocess
from collections import Counter

import modelindex
import pytest
import yaml
from mmengine.config import Config

from conftest import PYTHON, REPO

spec = importlib.util.spec_from_file_location(
    'model_zoo_table', osp.join(REPO, 'tools/misc/model_zoo_table.py'))
zoo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(zoo)

INDEX = osp.join(REPO, 'model-index.yml')
MODELS = zoo.load_models(INDEX)
# configs/maskdeep/README.md's results header -> (dataset, metric) per value
README_COLUMNS = {
    'Linear top-1': [('ImageNet-1k', 'Top 1 Accuracy')],
    'top-5': [('ImageNet-1k', 'Top 5 Accuracy')],
    'VOC AP / AP50 / AP75': [('PASCAL VOC', f'box AP{s}')
                             for s in ('', '50', '75')],
    'COCO AP<sup>bb</sup> / 50 / 75': [('COCO', f'box AP{s}')
                                       for s in ('', '50', '75')],
    'COCO AP<sup>mk</sup> / 50 / 75': [('COCO', f'mask AP{s}')
                                       for s in ('', '50', '75')],
}


def _pretraining_configs():
    configs = glob.glob(osp.join(REPO, 'configs', '*', '**', '*.py'),
                        recursive=True)
    return sorted(
        osp.relpath(p, REPO) for p in configs
        if not osp.relpath(p, REPO).startswith(
            ('configs/_base_/', 'configs/benchmarks/')))


def _paper_metrics(model):
    return {(r['Dataset'], metric): value
            for r in model.get('Results') or [] if r.get('Paper-reported')
            for metric, value in r['Metrics'].items()}


def test_index_imports_every_metafile():
    with open(INDEX) as f:
        imports = yaml.safe_load(f)['Import']
    metafiles = glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yml'))
    assert sorted(imports) == sorted(osp.relpath(p, REPO) for p in metafiles)


def test_modelindex_accepts_the_index():
    # modelindex resolves README paths against the metafile's folder, while
    # OpenMMLab (mmpretrain's own index too) writes them from the repo root:
    # those are checked in test_pretraining_paths_exist instead.
    errors = modelindex.load(INDEX).check(silent=True)
    assert [e for e in errors if 'README' not in e] == []


def test_one_entry_per_pretraining_config():
    counts = Counter(m['Config'] for m in MODELS)
    assert sorted(counts) == _pretraining_configs()
    assert [c for c, n in counts.items() if n > 1] == []
    for model in MODELS:
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]


def test_pretraining_paths_exist():
    paths = [m['Config'] for m in MODELS]
    for metafile in glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yml')):
        with open(metafile) as f:
            paths += [c['README'] for c in yaml.safe_load(f)['Collections']
                      if 'README' in c]
    assert [p for p in paths if not osp.isfile(osp.join(REPO, p))] == []


def test_benchmark_configs_exist():
    paths = {r['Config'] for m in MODELS for r in m.get('Results') or []}
    paths.update(p for m in MODELS for p in m.get('Downstream') or [])
    missing = sorted(p for p in paths if not osp.isfile(osp.join(REPO, p)))
    assert missing == [], f'referenced but missing: {missing}'


def test_entries_are_well_formed():
    collections = set()
    for metafile in glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yml')):
        with open(metafile) as f:
            collections.update(c['Name']
                               for c in yaml.safe_load(f)['Collections'])
    for model in MODELS:
        assert model['In Collection'] in collections, model['Name']
        assert isinstance(model['Weights'], str), model['Name']
        downstream = model.get('Downstream') or []
        assert all(p.startswith('configs/benchmarks/') for p in downstream)
        if not model['Results']:
            assert model['Notes'], f"{model['Name']}: say why no results"
        for result in model['Results'] or []:
            assert {'Task', 'Dataset', 'Metrics', 'Config'} <= set(result)
            assert result['Config'] in downstream, model['Name']
            assert isinstance(result.get('Paper-reported', False), bool)
            assert all(isinstance(v, (int, float))
                       for v in result['Metrics'].values())


@pytest.mark.parametrize('model', MODELS, ids=[m['Name'] for m in MODELS])
def test_metadata_matches_config(model):
    gpus, batch, epochs = map(int, re.search(
        r'_(\d+)xb(\d+)-.*-(\d+)e_', model['Name']).groups())
    cfg = Config.fromfile(osp.join(REPO, model['Config']))
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.train_cfg.max_epochs == epochs
    assert model['Metadata']['Batch Size'] == gpus * batch
    assert model['Metadata']['Epochs'] == epochs


def test_paper_numbers_match_maskdeep_readme():
    with open(osp.join(REPO, 'configs/maskdeep/README.md')) as f:
        section = f.read().split('## Models and results')[1].split('\n## ')[0]
    rows = [[c.strip() for c in line.strip().strip('|').split('|')]
            for line in section.splitlines()
            if line.startswith('| ') and not line.startswith('| :')]
    header, rows = rows[0], rows[1:]
    by_name = {m['Name']: m for m in MODELS}
    for row in rows:
        name = re.match(r'\[(.+?)\]', row[0]).group(1)
        expected = {}
        for title, cell in zip(header, row):
            if title in README_COLUMNS and cell != '-':
                values = [float(v) for v in cell.split(' / ')]
                expected.update(zip(README_COLUMNS[title], values))
        assert _paper_metrics(by_name[name]) == expected, name
    assert len(rows) == 4
    # Table 1's headline: 200 epochs, 71.2 top-1, 41.5 box AP, 36.1 mask AP
    paper = _paper_metrics(
        by_name['maskdeep_resnet50_16xb128-coslr-200e_in1k'])
    assert paper[('ImageNet-1k', 'Top 1 Accuracy')] == 71.2
    assert paper[('COCO', 'box AP')] == 41.5
    assert paper[('COCO', 'mask AP')] == 36.1


def test_readme_table_is_current():
    with open(osp.join(REPO, 'README.md')) as f:
        text = f.read()
    section = text.split(zoo.START + '\n')[1].split(zoo.END)[0]
    assert section == zoo.format_table(MODELS), (
        'run: python tools/misc/model_zoo_table.py --write README.md')


def test_format_table_marks_and_footnotes():
    results = [
        dict(Task='Image Classification', Dataset='ImageNet-1k',
             Metrics={'Top 1 Accuracy': 70.5}, Config='lin.py',
             **{'Paper-reported': True}),
        dict(Task='Object Detection', Dataset='COCO',
             Metrics={'box AP': 40.25}, Config='det.py'),
    ]
    models = [
        {'Name': 'a', 'In Collection': 'A', 'Config': 'a.py',
         'Metadata': {'Epochs': 100}, 'Results': results, 'Weights': ''},
        {'Name': 'b', 'In Collection': 'B', 'Config': 'b.py',
         'Results': None, 'Weights': 'https://x/b.pth'},
    ]
    lines = zoo.format_table(models).splitlines()
    assert lines[0] == ('| Method | Config | Epochs | ImageNet-1k Top 1 '
                        'Accuracy (1) | COCO box AP (2) | Weights |')
    assert lines[2] == '| A | [a](a.py) | 100 | 70.5† | 40.25 | — |'
    assert lines[3] == ('| B | [b](b.py) | — | — | — | '
                        '[model](https://x/b.pth) |')
    assert lines[5:7] == ['- (1) [lin.py](lin.py)', '- (2) [det.py](det.py)']


def test_write_replaces_only_the_section(tmp_path):
    doc = tmp_path / 'README.md'
    doc.write_text(f'# Title\n\n{zoo.START}\nold\n{zoo.END}\n\nmore\n')
    proc = subprocess.run(
        [PYTHON, 'tools/misc/model_zoo_table.py', '--write', str(doc)],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    table = zoo.format_table(MODELS)
    assert doc.read_text() == (
        f'# Title\n\n{zoo.START}\n{table}{zoo.END}\n\nmore\n')
    with pytest.raises(ValueError, match='model-zoo:start'):
        zoo.replace_section('no markers', table)
    with pytest.raises(ValueError):
        zoo.replace_section(f'{zoo.END}\n{zoo.START}', table)
