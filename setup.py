"""What pyproject.toml cannot say: ship the top-level ``resources/`` folder as package data.

The code packages are found as usual. ``resources/`` (starter models, icons, style sheet) stays
where the design puts it and is installed as the package ``timbrelab_resources``, so a wheel
carries it and :func:`synth_core.paths.resources_dir` finds it through importlib.resources in an
installed and in an editable environment alike. Its sub-folders are listed as (namespace)
packages because setuptools only ships data files of packages it knows.
"""

from setuptools import find_namespace_packages, find_packages, setup

RESOURCES = "timbrelab_resources"
resource_folders = [f"{RESOURCES}.{name}" for name in find_namespace_packages(where="resources")]

setup(
    packages=[*find_packages(include=["synth_core*", "app*"]), RESOURCES, *resource_folders],
    package_dir={RESOURCES: "resources"},
    package_data={RESOURCES: ["style.qss"], **{name: ["*"] for name in resource_folders}},
)
