"""Build hook only (the project is declared in pyproject.toml): ship the top-level templates/ and policies/.

They stay at the top of the repository, where they are read and reviewed; a built distribution carries them
inside the package as remediate/_data/templates and remediate/_data/policies, where remediate/shipped.py finds
them once installed. Editable installs copy nothing: the package then finds them in the checkout.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("templates", "policies")


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in SHIPPED:
            target = Path(self.build_lib, "remediate", "_data", name)
            shutil.rmtree(target, ignore_errors=True)  # a reused build/ never ships a deleted template
            shutil.copytree(HERE / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
