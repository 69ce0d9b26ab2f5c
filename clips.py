"""``track``'s work: one clip into its output folder (:func:`track_clip`), and a batch of clips on Dask.

One clip runs in this process. Several clips (the takes of one actor, or of many) run on Dask like
``create``'s photos: a local cluster bound to this machine (one worker per core by default, ``--workers N``)
or a farm's scheduler (``--scheduler``); each clip is a task in a **fresh** Python process
(``python -m headforge.clips``), so a long clip's memory goes with it. A clip's folder follows
:mod:`headforge.core.outputs` as a photo's does: locked while written, staged, committed as a unit, skipped
when complete, so an interrupted batch resumes with the clips it had not finished.

This module imports bpy only when ``--export`` animates a head.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .core.errors import HeadforgeError, OutputError
from .core.outputs import folder_lock, recover, skip_or_refuse, staged

CSV, JSON, BLEND = "track.csv", "track.json", "track.blend"
#: a clip's process is given this long (seconds): at 15 frames per second, a 90-minute clip at 30 fps
TIMEOUT = 4 * 3600.0


@dataclass(frozen=True)
class TrackOptions:
    """What ``track`` makes of each clip (the record in a folder keeps them: other options redo it)."""

    #: the person: a folder ``create`` wrote or a .blend with one Headforge head (absolute path), or None to
    #: fit them to each clip's first seconds
    head: str | None = None
    export: tuple[str, ...] = ()   #: animated head formats ("glb", "fbx"): track.blend and track.<format>
    arkit52: bool = False
    #: with ``export``: the jaw bone opens the mouth in the animation instead of the ``jawOpen`` shape key
    jaw_bone: bool = False
    model: str | None = None
    #: False: each frame's expression from the landmarks alone, not centred on CoarseNet's calibrated guess
    coarsenet: bool = True

    def outputs(self) -> tuple[str, ...]:
        """Every file name a clip may get with these options."""
        return (CSV, JSON) + ((BLEND,) + tuple(f"track.{f}" for f in self.export) if self.export else ())

    def recorded(self) -> dict:
        """The options that change the outputs (the model path does not)."""
        d = asdict(self)
        d.pop("model")
        d["export"] = list(self.export)
        return d


def head_blend(head: Path | None) -> Path:
    """The .blend ``--export`` animates: ``--head`` itself, or the head.blend in its folder."""
    if head is None:
        raise OutputError("--export needs --head: a head made by `headforge create` (its folder or head.blend).")
    blend = head if head.suffix.lower() == ".blend" else head / "head.blend"
    if not blend.is_file():
        raise OutputError(f"{str(blend)!r} does not exist: --export animates a head.blend (made by `headforge create` "
                          "without --no-blend).")
    return blend


def track_clip(clip: str, folder: Path, opts: TrackOptions, overwrite: bool = False,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """Track one clip into ``folder``. Returns ``{"status": "ok" | "skipped" | "other", ...}`` (with ``"track"``
    when made); raises :class:`HeadforgeError` (every write error included) for a failure of this clip.
    ``progress(frame, count)`` as for :func:`~headforge.core.track.track_video`."""
    from .core import load_face_model
    from .core.track import track_video, write_live_link_csv, write_track_json

    with folder_lock(folder):
        recover(folder)
        early = skip_or_refuse(folder, "clip", clip, opts.recorded(), opts.outputs(), overwrite)
        if early is not None:
            return early
        blend = head_blend(Path(opts.head) if opts.head else None) if opts.export else None
        if blend is not None:
            from .batch import blender_modules

            blender_modules()  # fail early, before the work
        t0 = time.perf_counter()
        model = load_face_model(opts.model)
        head = _head_shape(Path(opts.head), model) if opts.head else None
        track = track_video(clip, model, head, progress=progress, coarsenet=None if opts.coarsenet else False)
        record = {"format": "headforge-outputs", "version": 1, "clip": str(Path(clip).resolve()),
                  "options": opts.recorded()}
        with staged(folder, record) as stage:
            write_live_link_csv(track, stage / CSV, model)
            write_track_json(track, stage / JSON, model)
            if blend is not None:
                _export_performance(blend, clip, track, model, opts, stage)
        return {"status": "ok", "track": track, "seconds": time.perf_counter() - t0}


def _head_shape(path: Path, model):
    """The person of ``--head``: a ``create`` folder, or the one Headforge head of a .blend."""
    from .core.track import HeadShape

    if path.suffix.lower() != ".blend":
        return HeadShape.from_folder(path, model)
    from .batch import blender_modules

    blender_modules()
    from .addon.performance import head_shape

    return head_shape(single_head(path), model)


def single_head(blend: Path):
    """The one Headforge head of ``blend`` (opened)."""
    from .addon.files import open_heads

    heads = open_heads(blend, None)
    if len(heads) > 1:
        raise OutputError(f"{str(blend)!r} has {len(heads)} heads ({', '.join(h.name for h in heads)}); give the "
                          "folder of the one to track, or save it in a .blend of its own.")
    return heads[0]


def _export_performance(blend: Path, clip: str, track, model, opts: TrackOptions, stage: Path) -> None:
    """The head of ``blend`` with ``track`` on its rig (added if it has none): track.blend and the exports,
    into ``stage``."""
    import bpy

    from .addon import export as hf_export, files as hf_files, rig as hf_rig, schema
    from .addon.performance import apply_track

    head = single_head(blend)
    if not head.get(schema.RIG):
        hf_rig.add_rig(head, model, arkit=opts.arkit52)
    apply_track(head, track, model, bpy.context.scene, f"{head.name} {Path(clip).stem}",
                str(Path(clip).resolve()) if Path(clip).is_file() else "", jaw_bone=opts.jaw_bone)
    for fmt in opts.export:
        hf_export.export_head(head, stage / f"track.{fmt}", fmt, overwrite=True, get_model=lambda: model,
                              animation=True)
    hf_files.save_blend(stage / BLEND, overwrite=True)
    hf_files.new_empty_scene()  # let the head's data go before the next clip


def result_line(clip: str, folder: Path, r: dict) -> dict:
    """A clip's result as plain JSON (what a worker process prints)."""
    out = {"clip": clip, "folder": str(folder), "status": r["status"], "reason": r.get("reason", "")}
    track = r.get("track")
    if track is not None:
        out.update(seconds=r["seconds"], frames=len(track.frames), fps=track.fps,
                   tracking_fps=len(track.frames) / max(track.seconds, 1e-9), lost=list(track.lost),
                   person=track.head.source)
    return out


def track_clips(items: list[tuple[str, str]], opts: TrackOptions, overwrite: bool, emit=print,
                progress: Callable[[int, int], None] | None = None) -> None:
    """Track each (clip, folder) of ``items`` in this process; ``emit`` one JSON line per clip."""
    for clip, folder in items:
        try:
            r = result_line(clip, Path(folder), track_clip(clip, Path(folder), opts, overwrite, progress))
        except HeadforgeError as e:
            r = {"clip": clip, "folder": folder, "status": "failed", "reason": str(e), "kind": e.kind}
        emit(json.dumps(r, default=float))
        sys.stdout.flush()


def run_clips(items: list[tuple[str, str]], opts: TrackOptions, overwrite: bool, workers: int,
              scheduler: str | None = None, dashboard: bool = False, on_result=None,
              progress: bool = True) -> list[dict]:
    """Track every (clip, folder) on Dask, each clip in a fresh process; ``on_result(result)`` per clip as
    they finish. Returns the results."""
    from .batch import run_groups

    plain = {**asdict(opts), "export": list(opts.export)}
    return run_groups([[it] for it in items], plain, overwrite, workers, scheduler, dashboard, on_result, progress,
                      prefix="track", module="headforge.clips", kind="clip", timeout=TIMEOUT)


def main() -> int:
    """``python -m headforge.clips``: track the clips a JSON payload on stdin names (a batch's worker)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    job = json.loads(sys.stdin.read())
    o = job["options"]
    track_clips([tuple(x) for x in job["items"]], TrackOptions(**{**o, "export": tuple(o["export"])}), job["overwrite"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
