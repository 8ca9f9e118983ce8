"""Packaging that pyproject.toml cannot say alone: the repository's exported/ folder (the
shipped models) travels inside the package as ``edgemark/exported/``, so that an installed
edgemark finds its models by name from any folder. Which files go in: pyproject.toml's
package-data for ``edgemark.exported``. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["edgemark", "edgemark.*"]) + ["edgemark.exported"],
    package_dir={"edgemark.exported": "exported"},
)
