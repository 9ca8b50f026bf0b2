"""The container image installs the whole server (``make lint`` runs hadolint on its Dockerfile).

The image is built where a Docker daemon runs; here we check what it is built from: the wheel that
``pip install .`` makes in its Python stage, and the files the Dockerfile and .dockerignore let in.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_PACKAGED = {".py", ".lua", ".sql"}


def _top_packages() -> list[str]:
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    return [name for name in find["include"] if "." not in name]


def test_the_wheel_the_image_installs_holds_every_module_query_and_script(tmp_path: Path) -> None:
    # Built from a copy of what the Dockerfile copies, as its Python stage does (and no build/ left in the tree).
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in _top_packages():
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        path.relative_to(ROOT).as_posix()
        for package in _top_packages()
        for path in (ROOT / package).rglob("*")
        if path.suffix in _PACKAGED and "__pycache__" not in path.parts
    }
    assert expected, "no sources found"
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"


def test_the_build_context_and_the_dockerfile_take_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    ignore = (ROOT / ".dockerignore").read_text().split()
    for package in _top_packages():
        assert f"COPY {package}/ {package}/" in dockerfile, f"the Dockerfile does not copy {package}/"
        assert f"!{package}/" in ignore, f".dockerignore keeps {package}/ out of the build context"
