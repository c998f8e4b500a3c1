"""Packaging: ``kernels/`` ships as ``daix.kernels`` in a non-editable install, and the CLI starts
without importing numba or pyarrow."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_kernels_import_from_a_non_editable_install(tmp_path):
    target = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
           str(target), str(ROOT)]
    if all(importlib.util.find_spec(m) is not None for m in ("setuptools", "wheel")):
        cmd.insert(4, "--no-build-isolation")  # offline-friendly where the tools are at hand
    subprocess.run(cmd, check=True, cwd=tmp_path, timeout=300)
    assert (target / "daix" / "kernels" / "options.py").exists()
    probe = ("import daix, daix.kernels, daix.kernels.options as o; "
             "print(daix.kernels.__file__); print(o.JIT_OPTIONS['cache'])")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=120).stdout.split()
    assert Path(out[0]).resolve().is_relative_to(target.resolve())
    assert out[1] == "True"


def test_help_does_not_import_numba_or_pyarrow():
    probe = ("import sys; from click.testing import CliRunner; from daix.cli import main; "
             "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output; "
             "print(sorted(m for m in ('numba', 'pyarrow', 'numpy', 'pandas') "
             "if m in sys.modules)); print(r.output)")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    first, _, help_text = out.partition("\n")
    assert first == "[]"
    for command in ("demo", "validate", "backfill", "fix", "calendar", "indices"):
        assert command in help_text
