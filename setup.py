"""Installs the repository's top-level folders under one name, `easlab`.

The checkout keeps `eas/`, `server/` and `storage/` at its top level (the layout the project was
asked for), but a user's site-packages must not gain packages called `server` or `storage`: those
names are common in users' own projects.  So every package found below those folders is installed
as `easlab.<folder>...`, and `easlab` itself is a namespace package with nothing else in it.
fixtures/ (the demo's data files, read by server/demo.py) installs the same way, as easlab.fixtures.
Everything else (name, version, dependencies, entry points) is in pyproject.toml.
"""
from setuptools import find_packages, setup

FOLDERS = ("eas", "server", "storage", "testing", "fixtures")

setup(
    packages=[f"easlab.{name}" for name in find_packages(include=[f"{folder}*" for folder in FOLDERS])],
    package_dir={f"easlab.{folder}": folder for folder in FOLDERS},
)
