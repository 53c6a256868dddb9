"""Fault tests' shared registry: each test adds to COUNTS, and the run ends with one summary line.

Fault tests of any kind count what they did here (`from .conftest import COUNTS`); the
summary prints the counts of what ran.
"""
from __future__ import annotations

COUNTS = {"bad inputs tried": 0, "crashes": 0, "faults injected": 0, "records lost": 0}
READERS: set[str] = set()  # the readers the bad inputs went through


def pytest_terminal_summary(terminalreporter) -> None:
    if COUNTS["bad inputs tried"]:
        terminalreporter.write_line(f"fuzz: {COUNTS['bad inputs tried']} bad inputs tried, "
                                    f"{len(READERS)} readers, {COUNTS['crashes']} crashes")
    if COUNTS["faults injected"]:
        terminalreporter.write_line(f"faults: {COUNTS['faults injected']} faults injected, "
                                    f"{COUNTS['records lost']} records lost")
