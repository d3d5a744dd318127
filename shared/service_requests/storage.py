"""Where photos live: a storage interface and its local-disk implementation."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[a-z0-9][a-z0-9/_.-]{0,199}$")


class MediaStorage(Protocol):
    """Stores and reads blobs by key (e.g. "requests/12/ab12.jpg")."""

    def save(self, key: str, data: bytes) -> None:
        """Store the bytes under the key, replacing any previous blob."""

    def load(self, key: str) -> bytes:
        """Return the bytes under the key; raise FileNotFoundError if absent."""

    def delete(self, key: str) -> None:
        """Remove the blob if present."""


class LocalStorage:
    """Files under a root folder; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"bad media key {key!r}")
        return self.root / key

    def save(self, key: str, data: bytes) -> None:
        """Store the bytes under the key."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def load(self, key: str) -> bytes:
        """Return the bytes under the key."""
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        """Remove the blob if present."""
        self._path(key).unlink(missing_ok=True)
