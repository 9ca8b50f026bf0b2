"""The lock files pin everything pyproject.toml and ui/package.json ask for, so installs are reproducible.

A dependency added to pyproject.toml without `make lock` fails here, not on a fresh machine.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    pins = {canonicalize_name(m[1]): m[2] for line in text.splitlines() if (m := _PIN.match(line))}
    assert pins, f"no pins in requirements/{lock}"
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        wanted += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return [r for r in wanted if canonicalize_name(r.name) != "msr-replay"]


@pytest.mark.parametrize(
    ("lock", "extras"), [("server.txt", ()), ("run.txt", ("embedded",)), ("dev.txt", ("embedded", "dev"))]
)
def test_each_lock_pins_every_dependency_of_its_extras_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pins = _pins(lock)
    for requirement in _requirements(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in requirements/{lock}: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={pins[name]}, outside {requirement}: run make lock"
        )


def test_smaller_locks_use_the_versions_of_the_dev_lock() -> None:
    dev = _pins("dev.txt")
    for lock in ("server.txt", "run.txt"):
        differing = {name: version for name, version in _pins(lock).items() if dev.get(name) != version}
        assert not differing, f"requirements/{lock} differs from requirements/dev.txt: {differing}"


def test_every_pin_has_a_hash() -> None:
    for lock in ("server.txt", "run.txt", "dev.txt", "node.txt"):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements" / lock).read_text())
        unhashed = [b.split()[0] for b in blocks if _PIN.match(b) and "--hash=sha256:" not in b]
        assert not unhashed, f"requirements/{lock} pins without a hash: {unhashed}"


def test_ui_lock_matches_package_json_and_has_an_integrity_hash_for_every_package() -> None:
    package = json.loads((ROOT / "ui" / "package.json").read_text())
    lock = json.loads((ROOT / "ui" / "package-lock.json").read_text())
    root = lock["packages"][""]
    for section in ("dependencies", "devDependencies"):
        assert root.get(section, {}) == package.get(section, {}), f"ui/package-lock.json is stale in {section}"
        for name, version in package.get(section, {}).items():
            assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
    missing = [path for path, entry in lock["packages"].items() if path and not entry.get("integrity")]
    assert not missing, f"packages without an integrity hash in ui/package-lock.json: {missing}"
