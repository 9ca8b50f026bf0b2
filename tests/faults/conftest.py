"""Fixtures of the fault suite: each test records its figure (what it measured), printed at the end of the run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_FIGURES: list[str] = []


@pytest.fixture
def figure() -> Callable[[str], None]:
    """Record one line of what the test measured (e.g. ``R2: ... gaps 0, repeats 0``); printed in the summary."""

    def record(line: str) -> None:
        _FIGURES.append(line)
        print(line)

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("fault figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
