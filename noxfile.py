"""Sessions: ``tests`` (default), ``lint`` and ``bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Install daix (non-editable, as a user would) with the test extra and run pytest."""
    session.install(".[test]")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "--diff", ".", success_codes=[0, 1])


@nox.session
def bench(session: nox.Session) -> None:
    """pytest-benchmark suites of ``bench/`` (ratios against same-run baselines)."""
    session.install(".[test]")
    session.run(
        "pytest", "bench", "-p", "no:cacheprovider", "--benchmark-only",
        "--benchmark-columns=min,median,rounds", *session.posargs,
    )
