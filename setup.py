"""maskssl: masking-based self-supervised learning for mmpretrain."""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup


def get_version() -> str:
    scope: dict = {}
    with open(osp.join('maskssl', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def add_mim_extension() -> None:
    """Link configs/, tools/ and model-index.yml into ``maskssl/.mim`` so
    that ``mim`` finds them, as OpenMMLab repositories do."""
    mim_dir = osp.join('maskssl', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        target = osp.join(mim_dir, name)
        if osp.islink(target) or osp.isfile(target):
            os.remove(target)
        elif osp.isdir(target):
            shutil.rmtree(target)
        os.symlink(osp.relpath(name, mim_dir), target)


add_mim_extension()
setup(
    name='maskssl',
    version=get_version(),
    description='Masking-based self-supervised learning methods for '
    'mmpretrain, with transfer to mmdet and mmsegmentation',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    include_package_data=True,
    python_requires='>=3.8',
    install_requires=[
        'torch>=1.13',
        'mmengine>=0.10,<1',
        'mmcv>=2.0,<2.2',
        'mmpretrain==1.2.*',
        'mmdet==3.3.*',
        'mmsegmentation==1.2.*',
        'numpy<2',
        'pycocotools',
        'shapely',
        'scipy',
        'ftfy',
        'regex',
    ],
    extras_require={'tests': ['pytest', 'pytest-timeout', 'pytest-xdist']},
    license='Apache License 2.0',
    zip_safe=False)
