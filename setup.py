"""Package discovery that pyproject.toml cannot express: ``cli/`` installs as ``hcs_cli``.

Nothing generic (no top-level ``cli``) lands in site-packages.
"""

from setuptools import find_packages, setup

CLI_PACKAGES = ["hcs_cli"] + [f"hcs_cli.{name}" for name in find_packages("cli")]

setup(
    packages=find_packages(include=["mcnn_infer", "mcnn_infer.*", "mcnn_train", "mcnn_train.*"])
    + CLI_PACKAGES,
    package_dir={"hcs_cli": "cli"},
)
