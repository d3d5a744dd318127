"""Starting SUMO in-process with libsumo (one simulation per process at a time)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["libsumo", "running", "sumo_binary", "sumo_tool"]


def _import_libsumo() -> ModuleType:
    # libsumo prints a pyarrow version notice to stdout on import; stdout carries our JSON.
    with contextlib.redirect_stdout(io.StringIO()):
        import libsumo as module
    return module


libsumo: Any = _import_libsumo()


def _sumo_home() -> Path:
    spec = importlib.util.find_spec("sumo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the eclipse-sumo package is not installed: pip install eclipse-sumo")
    return Path(next(iter(spec.submodule_search_locations)))


def sumo_binary(name: str = "sumo") -> str:
    """Return the path of a SUMO binary (sumo, netconvert, netgenerate, duarouter)."""
    path = _sumo_home() / "bin" / name
    if not path.is_file():
        raise RuntimeError(f"{name} not found in the eclipse-sumo wheel at {path}")
    return str(path)


def sumo_tool(relative: str) -> Path:
    """Return the path of a script under SUMO's tools/ folder (e.g. randomTrips.py)."""
    path = _sumo_home() / "tools" / relative
    if not path.is_file():
        raise RuntimeError(f"{relative} not found in the eclipse-sumo wheel at {path}")
    return path


@contextlib.contextmanager
def running(args: Sequence[str]) -> Iterator[Any]:
    """Run libsumo with ``args`` (sumo's command line without the binary); close it afterwards."""
    os.environ.setdefault("SUMO_HOME", str(_sumo_home()))
    libsumo.start([sumo_binary(), *args])
    try:
        yield libsumo
    finally:
        libsumo.close()
