"""Render a synthetic training set on Dask, sharded and resumable.

Each Dask task renders one shard in a **fresh** Python process with Blender's module
(``python -m headforge.addon.synth_worker``), so memory never grows across thousands of renders. Without
``scheduler`` a :class:`distributed.LocalCluster` with ``workers`` workers runs on this machine; with it,
any running Dask scheduler (a render farm) is used. Its workers need Headforge, bpy and the face model
installed, and ``out`` must be a path they can all reach.

Killed half-way, the same call resumes: complete shards are kept, partial or broken ones are rendered
again. The manifest (``out/manifest.json``) records the configuration, the versions and each shard's
status. It is written atomically after every shard. The same seed gives the same set.

This module does not import bpy; only the worker processes do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from .core import config, synth as S
from .core.errors import HeadforgeError
from .core.farm import Progress, dask_client
from .core.synth import SHARD_DIR, partial_path, shard_ok, shard_path
from .core.fileio import write_bytes, write_json

MANIFEST = "manifest.json"
#: settings that must match to resume into an existing folder
IDENTITY_KEYS = ("count", "size", "seed", "details", "shard_size", "samples", "truncation", "image_format",
                 "detail_size", "version", "views", "clip", "albedo", "shading")


class SynthError(HeadforgeError):
    kind = "synth"


def _versions() -> dict:
    import numpy

    return {"headforge": config.version(), "numpy": numpy.__version__, "python": sys.version.split()[0]}


def open_set(cfg: S.SynthConfig, out: Path) -> dict:
    """Check arguments and the output folder; create or validate the manifest. Returns the manifest."""
    if cfg.count < 1:
        raise SynthError(f"--count must be at least 1 (got {cfg.count}).")
    if cfg.size < 16 or cfg.size > 4096:
        raise SynthError(f"--size must be between 16 and 4096 pixels (got {cfg.size}).")
    if cfg.shard_size < 1:
        raise SynthError(f"--shard-size must be at least 1 (got {cfg.shard_size}).")
    if cfg.image_format not in ("png", "jpg"):
        raise SynthError(f"The image format must be png or jpg (got {cfg.image_format!r}).")
    if cfg.samples < 1 or cfg.samples > 4096:
        raise SynthError(f"--samples must be between 1 and 4096 Cycles samples per pixel (got {cfg.samples}).")
    if cfg.version not in S.VERSIONS:
        raise SynthError(f"--version must be one of {', '.join(map(str, S.VERSIONS))} (got {cfg.version}).")
    if not 0 <= cfg.seed < 2 ** 63:
        raise SynthError(f"--seed must be a whole number from 0 (got {cfg.seed}).")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthError(f"--out {str(out)!r} is a file; give a folder.")
    try:
        (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise SynthError(f"Cannot write to {str(out)!r} ({e.strerror}). Choose a folder you can write to.") from None
    mpath = out / MANIFEST
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text())
            old = manifest["config"]
            if not isinstance(old, dict) or not isinstance(manifest.get("shards"), dict):
                raise ValueError
        except (OSError, ValueError, KeyError, TypeError):
            raise SynthError(f"{str(mpath)!r} is damaged. Move the folder away or delete the manifest to start "
                             "over.") from None
        old = S.SynthConfig.from_dict(old).to_dict()  # a set from before versions existed is version 1
        diff = [k for k in IDENTITY_KEYS if old.get(k) != cfg.to_dict().get(k)]
        if diff == ["count"]:  # renders are a function of seed and index: a set grows, or serves its first N
            if cfg.count > old["count"]:
                if old["count"] % cfg.shard_size:
                    raise SynthError(f"{str(out)!r} holds {old['count']} renders ending in a partial shard, so it "
                                     f"cannot grow to {cfg.count}. Use another --out folder.")
                manifest["config"]["count"] = cfg.count
                for k in range(cfg.n_shards):
                    manifest["shards"].setdefault(str(k), "missing")
                write_json(mpath, manifest)
            diff = []
        if diff:
            raise SynthError(f"{str(out)!r} holds a set made with other settings ({', '.join(diff)} differ). "
                             "Use the same settings to resume, or another --out folder.")
    else:
        manifest = {"format": "headforge-synth", "version": 1, "config": cfg.to_dict(),
                    "created": _now(), "versions": _versions(),
                    "shards": {str(k): "missing" for k in range(cfg.n_shards)}}
        write_json(mpath, manifest)
    return manifest


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def pending_shards(cfg: S.SynthConfig, out: Path) -> list[int]:
    """Shards still to render; stale partial folders and broken shards are removed."""
    todo = []
    for k in range(cfg.n_shards):
        shutil.rmtree(partial_path(out, k), ignore_errors=True)
        if shard_ok(out, cfg, k):
            continue
        shutil.rmtree(shard_path(out, k), ignore_errors=True)
        todo.append(k)
    return todo


def run_shard_process(out: str, k: int, model_path: str | None = None, python: str | None = None,
                      timeout: float = 6 * 3600) -> dict:
    """Render shard ``k`` in a fresh process (this is what each Dask task runs)."""
    import tempfile

    env = dict(os.environ)
    own = "BLENDER_USER_RESOURCES" not in env
    if own:
        env["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="headforge-blender-")
    cmd = [python or sys.executable, "-m", "headforge.addon.synth_worker", str(out), str(k)]
    if model_path:
        cmd.append(str(model_path))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    finally:
        if own:
            shutil.rmtree(env["BLENDER_USER_RESOURCES"], ignore_errors=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout)[-2000:]
        raise RuntimeError(f"shard {k} failed (exit {r.returncode}):\n{tail}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def synthesize(cfg: S.SynthConfig, out, workers: int | None = None, scheduler: str | None = None,
               model_path=None, progress: bool = True, dashboard: bool = False) -> dict:
    """Render (or finish rendering) the set described by ``cfg`` into ``out``. Returns a summary.

    A folder holding the same set with another ``count`` is reused: a bigger count extends it, a smaller
    one renders only the shards holding its first ``count`` renders (samples depend on seed and index
    only, so a set's first N renders are the same for any count)."""
    out = Path(out)
    workers = 1 if workers is None else workers
    if workers < 1:
        raise SynthError(f"--workers must be at least 1 (got {workers}).")
    manifest = open_set(cfg, out)
    want = cfg.n_shards                                   # shards holding the first cfg.count renders
    cfg = S.SynthConfig.from_dict(manifest["config"])     # the set's own settings (its count may be larger)
    todo = [k for k in pending_shards(cfg, out) if k < want]
    done_images = sum(len(cfg.shard_indices(k)) for k in range(want) if k not in todo)
    summary = {"shards": want, "rendered": 0, "skipped": want - len(todo), "failed": {}}
    if not todo:
        _write_manifest(out, manifest, cfg)
        return summary
    from dask.distributed import as_completed

    os.environ.setdefault("HEADFORGE_RENDER_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    with dask_client(workers, scheduler, dashboard) as client:
        bar = Progress(sum(len(cfg.shard_indices(k)) for k in range(want)), done_images) if progress else None
        futures = {client.submit(run_shard_process, str(out.resolve()), k,
                                 str(model_path) if model_path else None, pure=False, retries=1): k for k in todo}
        try:
            for fut in as_completed(futures):
                k = futures[fut]
                try:
                    fut.result()
                    manifest["shards"][str(k)] = "done"
                    summary["rendered"] += 1
                    if bar:
                        bar.update(len(cfg.shard_indices(k)))
                except Exception as e:  # a shard's failure is reported, the others go on
                    manifest["shards"][str(k)] = "failed"
                    summary["failed"][k] = str(e)[-500:]
                _write_manifest(out, manifest, cfg)
        finally:
            if bar:
                bar.close()
    return summary


def _write_manifest(out: Path, manifest: dict, cfg: S.SynthConfig) -> None:
    for k in range(cfg.n_shards):
        if manifest["shards"].get(str(k)) != "failed":
            manifest["shards"][str(k)] = "done" if shard_path(out, k).exists() else "missing"
    manifest["updated"] = _now()
    manifest["images_done"] = sum(len(cfg.shard_indices(k)) for k in range(cfg.n_shards)
                                  if manifest["shards"][str(k)] == "done")
    write_json(out / MANIFEST, manifest)


def contact_sheet(out, n: int = 64, cols: int = 8, cell: int = 128) -> Path:
    """A PNG grid of the first ``n`` rendered images (``out/contact_sheet.png``)."""
    import cv2

    out = Path(out)
    cfg = S.SynthConfig.from_dict(json.loads((out / MANIFEST).read_text())["config"])
    paths = [p for k in range(cfg.n_shards) for i in cfg.shard_indices(k)
             if (p := shard_path(out, k) / f"{i:08d}.{cfg.image_format}").exists()][:n]
    if not paths:
        raise SynthError(f"No rendered images in {str(out)!r} yet.")
    ok, buf = cv2.imencode(".png", S.contact_grid(paths, cols, cell))
    return write_bytes(out / "contact_sheet.png", buf.tobytes())
