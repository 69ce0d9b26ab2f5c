"""``create``'s work: one photo into its output folder (:func:`make_head`), and a batch of photos on Dask.

One photo runs in this process. A batch runs on Dask like ``synth``: a local cluster bound to this
machine (one worker per core by default, ``--workers N``) or a farm's scheduler (``--scheduler``). Each
task is a small group of photos made in a **fresh** Python process (``python -m headforge.batch``), so
memory stays flat over thousands of photos; one status line shows photos done, photos per minute and time
left. Every photo's folder follows :mod:`headforge.core.outputs`: locked while written, staged, committed
as a unit, skipped when complete, so an interrupted batch resumes exactly where it stopped.

This module imports bpy only when a photo's ``head.blend`` is written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .core.errors import BlenderUnavailable, HeadforgeError
from .core.writers import CORE_OUTPUTS, DETAIL_OUTPUTS
from .core.outputs import folder_lock, recover, skip_or_refuse, staged

BLEND_OUTPUTS = ("head.blend", "head.glb")
#: photos per fresh process in a batch: enough to spread the process start (about 3 s: MediaPipe, bpy,
#: the face model) over several photos, few enough that memory stays flat
GROUP = 4


@dataclass(frozen=True)
class Options:
    """What ``create`` makes of each photo (the record in a folder keeps them: other options redo it)."""

    face_index: int = 0
    texture_size: int = 2048
    model: str | None = None
    no_blend: bool = False
    no_coarsenet: bool = False
    no_descriptor: bool = False
    no_landmarknet: bool = False
    no_detail: bool = False
    no_segmentation: bool = False
    no_hair: bool = False
    #: the photo's light and shadow left in the texture (by default they are taken off)
    keep_light: bool = False
    rig: bool = False
    export: tuple[str, ...] = ()
    lod: tuple[int, ...] = (0,)
    arkit52: bool = False
    #: other photos of the person in the first photo (absolute paths): one head fitted to all of them
    more_photos: tuple[str, ...] = ()
    #: the hair's style ("photo": read from the photo; ``core.hairstyle.HAIR_STYLES``), and its length, volume and
    #: curl in cm (None: as the style has it)
    hair_style: str = "photo"
    hair_length_cm: float | None = None
    hair_volume_cm: float | None = None
    hair_curl_cm: float | None = None

    def outputs(self) -> tuple[str, ...]:
        """Every file name a photo may get with these options."""
        return (CORE_OUTPUTS + (() if self.no_detail else DETAIL_OUTPUTS) + (() if self.no_blend else BLEND_OUTPUTS)
                + tuple(f"head.{f}" for f in self.export if f != "glb"))

    def recorded(self) -> dict:
        """The options that change the outputs (the model path does not)."""
        d = asdict(self)
        d.pop("model")
        d["export"], d["lod"], d["more_photos"] = list(self.export), list(self.lod), list(self.more_photos)
        for later, default in (("more_photos", []), ("keep_light", False), ("hair_style", "photo"),
                               ("hair_length_cm", None), ("hair_volume_cm", None), ("hair_curl_cm", None)):
            if d[later] == default:  # records written before these options stay valid
                d.pop(later)
        return d


def blender_modules():
    try:
        from .addon import build, files  # noqa: F401  (imports bpy)
    except ImportError as e:
        raise BlenderUnavailable(
            "head.blend and head.glb need Blender's Python module: `pip install bpy==5.0.1` (Python 3.11), "
            f"or pass --no-blend. ({e})") from None
    return build, files


def _older_photo(folder: Path) -> str | None:
    """The photo of a folder from before records: its fit.json names it."""
    try:
        return json.loads((folder / "fit.json").read_text())["image"]["path"] or None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def make_head(photo: str, folder: Path, opts: Options, overwrite: bool = False) -> dict:
    """Make one photo's head in ``folder``. Returns ``{"status": "ok" | "skipped" | "other", ...}``; raises
    :class:`HeadforgeError` (every write error included) for a failure of this photo."""
    from .core import create_avatar
    from .core.writers import write_core_outputs

    with folder_lock(folder):
        recover(folder)
        early = skip_or_refuse(folder, "photo", photo, opts.recorded(), opts.outputs(), overwrite, _older_photo)
        if early is not None:
            return early
        if not opts.no_blend:
            blender_modules()  # fail early, before the work
        t0 = time.perf_counter()
        avatar = create_avatar(photo, face_index=opts.face_index, texture_size=opts.texture_size,
                               model_path=opts.model, coarsenet=False if opts.no_coarsenet else None,
                               descriptor=False if opts.no_descriptor else None,
                               landmarknet=False if opts.no_landmarknet else None,
                               detail=False if opts.no_detail else None,
                               segmentation=False if opts.no_segmentation else None,
                               delight=not opts.keep_light, hair_style=opts.hair_style,
                               hair_length_cm=opts.hair_length_cm, hair_volume_cm=opts.hair_volume_cm,
                               hair_curl_cm=opts.hair_curl_cm,
                               more_photos=[(p, opts.face_index) for p in opts.more_photos])
        t = time.perf_counter()
        record = {"format": "headforge-outputs", "version": 1, "photo": str(Path(photo).resolve()),
                  "options": opts.recorded()}
        with staged(folder, record) as stage:
            write_core_outputs(avatar, stage, overwrite=True)
            if not opts.no_blend:
                _write_blender(avatar, stage, opts, Path(photo).stem or "Head")
        avatar.timings["write"] = time.perf_counter() - t
        return {"status": "ok", "avatar": avatar, "seconds": time.perf_counter() - t0}


def _write_blender(avatar, stage: Path, opts: Options, name: str) -> None:
    """``head.blend`` and the engine exports of ``avatar`` into ``stage``: the head is built from the
    avatar's arrays and rigged from them (nothing is read back from Blender data)."""
    build, files = blender_modules()
    from .addon import export as hf_export, rig as hf_rig, stage as hf_stage

    files.new_empty_scene()
    made = build.build_head(avatar, name=name, hair=not opts.no_hair)
    head = made["head"]
    hf_stage.stage_head(head, made["camera"])
    if opts.rig or opts.export:
        hf_rig.add_rig(head, avatar.model, arkit=opts.arkit52, avatar=avatar)
    exports = {fmt: list(opts.lod) for fmt in opts.export}
    exports.setdefault("glb", [0])  # the plain head.glb when no rigged one is asked for
    for fmt, lods in exports.items():
        hf_export.export_head(head, stage / f"head.{fmt}", fmt, lods, overwrite=True, get_model=lambda: avatar.model)
    files.save_blend(stage / "head.blend", overwrite=True)
    files.new_empty_scene()  # let the head's data go before the next photo


# -------------------------------------------------------------------------------------------------
# a batch on Dask: groups of photos, each group in a fresh process


def _result_line(photo: str, folder: Path, r: dict) -> dict:
    """A photo's result as the JSON a worker process prints."""
    import resource

    out = {"photo": photo, "folder": str(folder), "status": r["status"], "reason": r.get("reason", ""),
           "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    a = r.get("avatar")
    if a is not None:
        out.update(seconds=r["seconds"], timings=a.timings, nme68=a.nme68,
                   doubtful=list(a.quality.reasons) if a.quality is not None and not a.quality.ok else [])
    return out


def make_heads(items: list[tuple[str, str]], opts: Options, overwrite: bool, emit=print) -> None:
    """Make each (photo, folder) of ``items`` in this process; ``emit`` one JSON line per photo."""
    for photo, folder in items:
        try:
            r = _result_line(photo, Path(folder), make_head(photo, Path(folder), opts, overwrite))
        except HeadforgeError as e:
            r = {"photo": photo, "folder": folder, "status": "failed", "reason": str(e), "kind": e.kind}
        emit(json.dumps(r, default=float))
        sys.stdout.flush()


def run_group(items: list[tuple[str, str]], opts: dict, overwrite: bool, timeout: float = 3600.0,
              module: str = "headforge.batch", kind: str = "photo") -> list[dict]:
    """Make a group of (source, folder) items in a fresh ``python -m module`` process (what each Dask task
    runs; ``batch`` makes photos, ``clips`` tracks clips), which prints one JSON line per item with the source
    under ``kind`` ("photo" or "clip"). An item the process did not report (it crashed, was killed or ran
    past ``timeout`` seconds) is a failure with the end of its error output."""
    import tempfile

    env = dict(os.environ)
    own = "BLENDER_USER_RESOURCES" not in env
    if own:
        env["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="headforge-blender-")
    payload = json.dumps({"items": items, "options": opts, "overwrite": overwrite})
    try:
        r = subprocess.run([sys.executable, "-m", module], input=payload, capture_output=True, text=True,
                           env=env, timeout=timeout)
        stdout, tail = r.stdout, (r.stderr or "")[-800:]
    except subprocess.TimeoutExpired as e:
        stdout, tail = (e.stdout or b"").decode(errors="replace"), f"timed out after {timeout:.0f} s"
    finally:
        if own:
            shutil.rmtree(env["BLENDER_USER_RESOURCES"], ignore_errors=True)
    done = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            res = json.loads(line)
            done[res[kind]] = res
    return [done.get(p) or {kind: p, "folder": f, "status": "failed",
                            "reason": f"the worker process ended before this {kind}: {tail.strip()[-400:]}"}
            for p, f in items]


def run_groups(groups: list[list[tuple[str, str]]], opts: dict, overwrite: bool, workers: int,
               scheduler: str | None = None, dashboard: bool = False, on_result=None, progress: bool = True,
               prefix: str = "create", **fresh) -> list[dict]:
    """Run each group on Dask (:func:`run_group`, with ``fresh`` its ``timeout``/``module``/``kind``);
    ``on_result(result)`` per item as groups finish; the status line starts with ``prefix``. Returns the
    results."""
    from dask.distributed import as_completed

    from .core.farm import Progress, dask_client

    results = []
    with dask_client(workers, scheduler, dashboard) as client:
        bar = Progress(sum(map(len, groups)), 0, what=f"{fresh.get('kind', 'photo')}s", prefix=prefix) \
            if progress else None
        futures = [client.submit(run_group, g, opts, overwrite, pure=False, **fresh) for g in groups]
        try:
            for fut in as_completed(futures):
                for res in fut.result():
                    results.append(res)
                    if on_result is not None:
                        on_result(res)
                if bar:
                    bar.update(len(fut.result()))
        finally:
            if bar:
                bar.close()
    return results


def run_batch(items: list[tuple[str, str]], opts: Options, overwrite: bool, workers: int,
              scheduler: str | None = None, dashboard: bool = False, on_result=None,
              progress: bool = True) -> list[dict]:
    """Make every (photo, folder) on Dask in groups of :data:`GROUP`; ``on_result(result)`` per photo as
    groups finish. Returns the results."""
    groups = [items[i:i + GROUP] for i in range(0, len(items), GROUP)]
    plain = {**asdict(opts), "export": list(opts.export), "lod": list(opts.lod)}
    return run_groups(groups, plain, overwrite, workers, scheduler, dashboard, on_result, progress)


def main() -> int:
    """``python -m headforge.batch``: make the photos a JSON payload on stdin names (a batch's worker)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    job = json.loads(sys.stdin.read())
    o = job["options"]
    opts = Options(**{**o, "export": tuple(o["export"]), "lod": tuple(o["lod"])})
    make_heads([tuple(x) for x in job["items"]], opts, job["overwrite"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
