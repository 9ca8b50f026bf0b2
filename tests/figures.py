"""The ``figure`` fixture, and the "fault figures" section at the end of a run that prints what tests recorded with it.

A plugin of the root conftest, because that is the conftest pytest-xdist's controller loads (it collects and runs
no test): the figures reach it inside the workers' test reports, as ``user_properties``, and it prints them.
Without xdist the same reports pass through the same hooks in the one process.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

FIGURE = "fault figure"
"""The ``user_properties`` name of a recorded figure."""

_FIGURES: list[str] = []


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one line of what a fault test measured (e.g. ``R2: ... gaps 0, repeats 0``); printed in the summary."""

    def record(line: str) -> None:
        request.node.user_properties.append((FIGURE, line))
        print(line)

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # The teardown report carries every property the test recorded, passed or failed: one report per test.
    if report.when == "teardown":
        _FIGURES.extend(str(value) for name, value in report.user_properties if name == FIGURE)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("fault figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
