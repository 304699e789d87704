"""What the build declares: one version, the optional kernels, the metadata."""

import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import fastrnn

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_written_once():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "fastrnn._version.__version__"
    try:  # an installed fastrnn (a wheel, or an editable install) carries it
        assert metadata.version("fastrnn") == fastrnn.__version__
    except metadata.PackageNotFoundError:
        pass


def test_the_classifiers_and_the_wheel_builds_cover_the_supported_pythons():
    project = PYPROJECT["project"]
    oldest = re.fullmatch(r">=3\.(\d+)", project["requires-python"]).group(1)
    listed = sorted(
        int(c.rsplit(".", 1)[1])
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert listed[0] == int(oldest) and listed == list(range(listed[0], listed[-1] + 1))
    builds = PYPROJECT["tool"]["cibuildwheel"]["build"].split()
    assert builds == [f"cp3{v}-*" for v in listed]
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert project["license"] == "BSD-3-Clause"


def test_optional_dependencies_are_ranges_not_pins():
    for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items():
        for requirement in requirements:
            version = requirement.split(";")[0]  # not the environment marker
            assert "==" not in version, f"[{extra}] pins {requirement}"


def test_numba_is_an_extra_not_a_requirement():
    names = [re.split(r"[<>=!\[ ]", r)[0] for r in PYPROJECT["project"]["dependencies"]]
    assert "numba" not in names
    extra = PYPROJECT["project"]["optional-dependencies"]["numba"]
    assert any(r.startswith("numba") for r in extra)


@pytest.mark.parametrize("required", [False, True])
def test_the_kernels_are_optional_unless_required(tmp_path, required):
    pytest.importorskip("Cython")
    if not (ROOT / "setup.py").exists():
        pytest.skip("needs the source tree")
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path)
    shutil.copytree(
        ROOT / "fastrnn", tmp_path / "fastrnn", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    env = {**os.environ, "CC": str(tmp_path / "no-such-compiler")}  # as if there were no gcc
    if required:
        env["FASTRNN_REQUIRE_EXTENSION"] = "1"
    else:
        env.pop("FASTRNN_REQUIRE_EXTENSION", None)
    done = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not list((tmp_path / "fastrnn" / "_kernels").glob("_driver*.so"))
    if required:
        assert done.returncode != 0
    else:
        assert done.returncode == 0, done.stderr
        assert "compiled kernels were not built" in done.stderr
