"""Named SQL queries, kept in ``store/sql/queries/*.sql``.

A file holds blocks that start with ``-- name: <query_name>`` followed by one comment line that says what the
query does and what its ``$n`` arguments are. Queries are loaded once, at import of the repository modules.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$")


def load(file_name: str) -> dict[str, str]:
    """Return the queries of one ``.sql`` file by name."""
    text = resources.files("store").joinpath("sql", "queries", file_name).read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = _NAME.match(line)
        if match:
            if current is not None:
                queries[current] = "\n".join(lines).strip()
            current, lines = match.group(1), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        queries[current] = "\n".join(lines).strip()
    return queries
