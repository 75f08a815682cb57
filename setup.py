"""diffpose_mm: diffusion-based human pose estimation (DiffPose) as an MMPose 1.x plugin."""
import os
import os.path as osp
import shutil
import sys
from setuptools import find_packages, setup

MIM_FILES = ('configs', 'tools')


def add_mim_extension():
    """Ship ``configs/`` and ``tools/`` inside the package as ``diffpose_mm/.mim``.

    ``mim train diffpose_mm NAME.py`` looks for ``<site-packages>/diffpose_mm/.mim/{configs,tools}``.
    As in MMPose's setup.py: copy for wheels/sdists, symlink for a legacy ``develop`` install,
    nothing otherwise (a PEP 660 editable install cannot serve ``mim train diffpose_mm``; use
    ``mim train mmpose path/to/config.py`` there).
    """
    if 'develop' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'install')):
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim_dir = osp.join(repo, 'diffpose_mm', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(repo, name), osp.join(mim_dir, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='diffpose_mm',
        version='0.1.0',
        description='DiffPose for MMPose 1.x: video pose estimation (diffusion over keypoint heatmaps) and 3D lifting',
        long_description=open('README.md', encoding='utf-8').read() if osp.exists('README.md') else '',
        long_description_content_type='text/markdown',
        license='Apache-2.0',
        packages=find_packages(include=['diffpose_mm', 'diffpose_mm.*']),
        include_package_data=True,
        package_data={'diffpose_mm': ['.mim/configs/**/*.py', '.mim/tools/**/*.py', '.mim/tools/**/*.sh']},
        python_requires='>=3.8',
        install_requires=['mmengine>=0.10.7,<1.0', 'mmpose>=1.3.2,<1.4'],
        zip_safe=False,
    )
