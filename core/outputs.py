"""A photo's output folder: written as a unit, never mixed, never shared, never outside ``--out``.

* **Lock.** :func:`folder_lock` holds ``.headforge.lock`` (an OS file lock, released when the process ends,
  however it ends; the file is removed when the run ends): a second run into the same folder is refused
  with the holder's process id.
* **Staging.** A run writes everything into a hidden ``.headforge-staging-*`` folder beside its outputs,
  then :func:`commit` moves the files in. A kill, a full disk or a crash before the commit leaves only the
  staging folder, which the next run removes.
* **Journal.** Before moving, :func:`commit` writes ``.headforge-commit.json`` naming the files; a run
  killed during the few renames leaves the journal, and :func:`recover` removes what it names, so that
  photo is redone whole.
* **Record.** The commit ends by writing ``.headforge.json`` (the photo, the files, the options). It makes
  the folder *complete*: a re-run with the same photo and options skips it; another photo's folder is
  reported, never overwritten; with ``overwrite`` the previous run's files that the new run does not write
  are removed, and files Headforge did not write are never touched.
* **State.** :func:`folder_state` says what a run finds in a folder: its own complete outputs (skipped),
  another source's (reported), files it would write but did not (refused without ``overwrite``), or nothing.
* **Names.** :func:`folder_names` turns photo and clip file names into safe, distinct sub-folder names.

The same rules hold for a clip's folder (``track``) as for a photo's (``create``); the record names which
the folder holds (``"photo"`` or ``"clip"``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import unicodedata
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import OutputError

LOCK = ".headforge.lock"
RECORD = ".headforge.json"
JOURNAL = ".headforge-commit.json"
STAGING_PREFIX = ".headforge-staging-"


def write_error(e: OSError, where: Path) -> OutputError:
    """An :class:`OutputError` for a failed write that says what, where and what to do."""
    what = {28: "the disk is full", 30: "the folder is read-only", 13: "permission denied",
            122: "the disk quota is exceeded"}.get(e.errno, e.strerror or type(e).__name__)
    return OutputError(f"Could not write {str(getattr(e, 'filename', None) or where)!r}: {what}. Free some space "
                       "or choose a folder you can write to, then run the same command again: finished photos "
                       "are kept and this one is redone.")


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the block (creating the folder; a folder this left empty is removed
    again); :class:`OutputError` when another process holds it."""
    import fcntl

    created = not folder.exists()
    path = folder / LOCK
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise write_error(e, folder) from None
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise OutputError(f"{str(folder)!r} is being written by another Headforge run (process {holder}). "
                              "Wait for it to finish, or choose another --out folder.") from None
        held = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        if held:
            path.unlink(missing_ok=True)   # before the lock goes: a waiting run then finds it held, or gone
        os.close(fd)
        if created and held:
            try:
                folder.rmdir()             # only when empty: a photo that failed leaves no folder behind
            except OSError:
                pass


def read_record(folder: Path) -> dict | None:
    """The record of the last complete run in ``folder`` (None: none, or unreadable)."""
    try:
        rec = json.loads((folder / RECORD).read_text())
        return rec if isinstance(rec, dict) and isinstance(rec.get("files"), list) else None
    except (OSError, ValueError):
        return None


def recover(folder: Path) -> list[str]:
    """Remove what an interrupted run left: staging folders; after a half-done commit, the files it names
    and the files of the run before it (the folder then holds no Headforge outputs, and the photo is made
    again). Call with the lock held. Returns the names of removed files."""
    removed = []
    for stale in folder.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    journal = folder / JOURNAL
    if journal.exists():   # a commit was cut short: what it moved and what the run before it wrote go
        try:
            names = json.loads(journal.read_text()).get("files", [])
        except (OSError, ValueError, AttributeError):
            names = []
        names = list(names) + (read_record(folder) or {}).get("files", [])
        for name in names:
            if _plain_name(name) and (folder / name).is_file():
                (folder / name).unlink()
                removed.append(name)
        (folder / RECORD).unlink(missing_ok=True)
        journal.unlink()
    return removed


def folder_state(folder: Path, kind: str, source: str, options: dict, outputs: tuple[str, ...],
                 older_source: Callable[[Path], str | None] | None = None) -> tuple[str, str]:
    """What a run making ``source`` (a photo or clip path; ``kind`` ``"photo"`` or ``"clip"``, the record's key)
    with ``options`` (as recorded) finds in ``folder``, which it would fill with some of ``outputs``:
    ``("done", why)``, ``("other", why)`` (another source's outputs), ``("conflict", why)`` (files it would
    write are there, or the folder was made with other options) or ``("free", "")``. ``older_source(folder)``
    reads the source from a folder written before records (or None)."""
    rec = read_record(folder)
    if rec is not None:
        if rec.get(kind) != str(Path(source).resolve()):
            return "other", f"{str(folder)!r} holds the outputs of another {kind} ({rec.get(kind)})"
        if rec.get("options") != options:
            return "conflict", f"{str(folder)!r} holds this {kind}'s outputs made with other options"
        if all((folder / n).is_file() for n in rec["files"]):
            return "done", "outputs exist (pass --overwrite to redo)"
        return "conflict", f"{str(folder)!r} has lost some of this {kind}'s outputs"
    present = [n for n in outputs if (folder / n).exists()]
    if not present:
        return "free", ""
    other = older_source(folder) if older_source is not None else None
    if other and Path(other).resolve() != Path(source).resolve():
        return "other", f"{str(folder)!r} holds the outputs of another {kind} ({other})"
    return "conflict", f"{str(folder)!r} already has {', '.join(present)}, not written by this {kind}'s run"


def skip_or_refuse(folder: Path, kind: str, source: str, options: dict, outputs: tuple[str, ...], overwrite: bool,
                   older_source: Callable[[Path], str | None] | None = None) -> dict | None:
    """Whether a run may fill ``folder`` (the arguments as for :func:`folder_state`; call with the lock
    held): None to go on, a result ``{"status": "skipped" | "other", "reason"}`` to return instead, or
    :class:`OutputError` for files it would replace without ``overwrite``."""
    state, why = folder_state(folder, kind, source, options, outputs, older_source)
    if overwrite or state == "free":
        return None
    if state == "done":
        return {"status": "skipped", "reason": why}
    if state == "other":
        return {"status": "other", "reason": f"{why}; skipped. Use another --out folder, or --overwrite."}
    raise OutputError(f"{why}. Pass --overwrite to replace them, or choose another --out folder.")


@contextmanager
def staged(folder: Path, record: dict) -> Iterator[Path]:
    """A staging folder (:func:`staging`) for the block to write into, committed with ``record`` when the block
    ends (:func:`commit`); removed when it raises, a write error (``OSError``) turned into an
    :class:`OutputError` that says what to do."""
    stage = staging(folder)
    try:
        yield stage
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, OSError):
            raise write_error(e, folder) from None
        raise
    commit(stage, folder, record)


def _plain_name(name) -> bool:
    return isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..")


def staging(folder: Path) -> Path:
    """A new, empty, hidden staging folder inside ``folder``."""
    try:
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    except OSError as e:
        raise write_error(e, folder) from None


def commit(stage: Path, folder: Path, record: dict) -> list[str]:
    """Move every file of ``stage`` into ``folder`` as one unit and write the record last; the previous
    run's files (its record's) that this run did not write are removed. Returns the file names."""
    names = sorted(p.name for p in stage.iterdir() if p.is_file())
    previous = read_record(folder) or {}
    stale = [n for n in previous.get("files", []) if _plain_name(n) and n not in names]
    try:
        _write_json(folder / JOURNAL, {"files": names})
        for n in names:
            os.replace(stage / n, folder / n)
        for n in stale:
            (folder / n).unlink(missing_ok=True)
        _write_json(folder / RECORD, {**record, "files": names})
        (folder / JOURNAL).unlink()
    except OSError as e:
        raise write_error(e, folder) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return names


def _write_json(path: Path, obj) -> None:
    from .fileio import write_json

    write_json(path, obj)


def folder_names(photos: list[str]) -> list[str]:
    """A safe sub-folder name per photo (or clip): its file name's stem with anything but letters, digits, ``-``,
    ``_`` and inner dots replaced, never hidden, never ``.`` or ``..``; names equal apart from case get
    ``_2``, ``_3``... so two photos never share a folder on any file system."""
    taken: set[str] = set()
    out = []
    for ph in photos:
        stem = unicodedata.normalize("NFC", Path(ph).stem)
        stem = re.sub(r"[^\w.-]+", "_", stem).strip("._ ")[:100] or "photo"
        name, n = stem, 1
        while name.casefold() in taken:
            n += 1
            name = f"{stem}_{n}"
        taken.add(name.casefold())
        out.append(name)
    return out
