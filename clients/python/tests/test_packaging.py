"""The package as PyPI would get it: a wheel built from pyproject.toml (with the
pinned hatchling, no network), named and typed as the README says."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_wheel(tmp_path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--disable-pip-version-check", "-w", str(tmp_path), ROOT],
        check=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    (wheel,) = [p for p in os.listdir(tmp_path) if p.endswith(".whl")]
    assert wheel.startswith("langgraph_checkpoint_memoryd-0.1.0-py3-none-any")
    with zipfile.ZipFile(tmp_path / wheel) as z:
        names = set(z.namelist())
        assert {"memoryd/__init__.py", "memoryd/py.typed", "memoryd/saver.py", "memoryd/store.py",
                "memoryd/history.py"} <= names
        meta = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Name: langgraph-checkpoint-memoryd" in meta
    assert "Requires-Python: >=3.10" in meta
    for dep in ("langgraph-checkpoint", "langchain-core", "urllib3", "aiohttp", "orjson", "pybase64"):
        assert f"Requires-Dist: {dep}" in meta, dep
    # Everything the package exports imports from the installed form too.
    import memoryd

    assert set(memoryd.__all__) == {
        "AsyncMemorydSaver", "AsyncMemorydStore", "MemorydChatMessageHistory", "MemorydError",
        "MemorydSaver", "MemorydStore", "RetryPolicy",
    }
