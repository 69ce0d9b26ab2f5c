"""Atomic file writing: an output is either complete or absent, never half-written."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True, keep_name: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (hidden, ending in ``.part`` plus ``path``'s own suffix, so
    writers that go by the extension write the right format); on success it is renamed onto ``path``, on
    failure removed.

    ``keep_name``: the temporary file has ``path``'s own name, in a hidden folder beside it (for writers that
    record their file's name inside it, such as FBX's embedded-texture folder ``<name>.fbm``).
    With ``overwrite=False`` an existing ``path`` raises :class:`FileExistsError` before any work.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if keep_name:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", suffix=".part", dir=path.parent))
        tmp_path = folder / path.name
    else:
        folder = None
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part" + path.suffix, dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        if folder is not None:
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def write_json(path: str | os.PathLike, obj, *, overwrite: bool = True) -> Path:
    return write_text(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n", overwrite=overwrite)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Uncompressed ``.npz`` (fast to load), written atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_bytes(path, buf.getvalue())


_T = TypeVar("_T")
_read_lock = threading.Lock()
_read_cache: dict = {}


def read_once(read: Callable[[str], _T], path: str | os.PathLike) -> _T:
    """``read(path)``, remembered for the process (a learned file that ships with the project is read once);
    what ``read`` raises for a missing or damaged file is raised, and nothing is remembered."""
    key = (read, str(path))
    with _read_lock:
        if key not in _read_cache:
            _read_cache[key] = read(str(path))
        return _read_cache[key]
