"""Command line: ``python -m headforge create PHOTO [PHOTO ...] --out DIR``.

One photo writes into DIR; several photos write one sub-folder each (named after the photo). A photo
whose outputs are all there already is skipped, so an interrupted batch resumes where it stopped. A
failing photo does not stop the others; the exit status is non-zero when any failed, and the reasons are
listed at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .core.errors import BlenderUnavailable, HeadforgeError, OutputError
from .core.export import CORE_OUTPUTS

BLEND_OUTPUTS = ("head.blend", "head.glb")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m headforge",
                                description="Headforge: one photo of a person to a fitted, textured 3D head.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    c = sub.add_parser("create", help="turn photos into heads",
                       description="Turn each photo into a head: mesh.obj, albedo.png, head.blend, head.glb, "
                                   "overlay.png and fit.json.")
    c.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, TIFF, ...)")
    c.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    c.add_argument("--face-index", type=int, default=0, metavar="N",
                   help="which face when a photo has several (0 = largest; default 0)")
    c.add_argument("--texture-size", type=int, default=2048, choices=(1024, 2048, 4096),
                   help="albedo texture size in pixels (default 2048)")
    c.add_argument("--model", metavar="PATH", help="ICT-FaceKit FaceXModel.tar.xz or folder "
                                                   "(default: $HEADFORGE_FACE_MODEL or ../shared)")
    c.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    c.add_argument("--no-blend", action="store_true", help="skip head.blend and head.glb (no Blender needed)")
    c.add_argument("--no-regressor", action="store_true", help="start the fit from the mean face, not CoarseNet")
    c.add_argument("--no-detail", action="store_true", help="no FineNet fine detail (displacement.png)")
    c.add_argument("--quiet", "-q", action="store_true", help="print only errors and the summary")
    c.add_argument("--rig", action="store_true", help="add expression shape keys and an armature (head.blend, exports)")
    c.add_argument("--export", metavar="FORMATS", default="",
                   help="also write rigged head.<fmt> for each of glb,fbx (implies --rig; glb replaces the plain head.glb)")
    c.add_argument("--lod", metavar="LIST", default="0", help="LODs in the exports: 0 (full), 1 (~10K), 2 (~3K); e.g. 0,1,2")
    c.add_argument("--arkit52", action="store_true", help="name and merge shape keys as Apple's 52 ARKit blendshapes")

    e = sub.add_parser("export", help="export heads from a .blend made by Headforge",
                       description="Export each Headforge head in a .blend (rig, LODs, texture) as glb and/or fbx. "
                                   "The .blend itself is not changed.")
    e.add_argument("blend", metavar="BLEND")
    e.add_argument("--format", "-f", action="append", choices=("glb", "fbx"), required=True,
                   help="output format (repeat for both)")
    e.add_argument("--out", "-o", metavar="PATH", help="output file (one head, one format) or folder "
                                                       "(default: beside the .blend)")
    e.add_argument("--lod", metavar="LIST", default="0", help="LODs to include: 0,1,2")
    e.add_argument("--rig", action="store_true", help="rig heads that are not rigged yet")
    e.add_argument("--arkit52", action="store_true", help="with --rig: ARKit 52 shape keys")
    e.add_argument("--object", metavar="NAME", help="only this head")
    e.add_argument("--model", metavar="PATH", help="ICT-FaceKit path (for --rig)")
    e.add_argument("--overwrite", action="store_true", help="replace existing files")

    y = sub.add_parser("synth", help="render a labelled synthetic training set with Cycles (on Dask)",
                       description="Render photo-realistic synthetic faces with labels, sharded and resumable: run "
                                   "the same command again to finish an interrupted set.")
    y.add_argument("--count", type=int, required=True, help="number of images")
    y.add_argument("--out", "-o", required=True, metavar="DATA", help="output folder")
    y.add_argument("--size", type=int, default=224, help="image size in pixels (default 224)")
    y.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same set")
    y.add_argument("--workers", type=int, default=1, help="local Dask workers (default 1)")
    y.add_argument("--scheduler", metavar="ADDR", help="an existing Dask scheduler, e.g. tcp://farm:8786")
    y.add_argument("--details", action="store_true", help="render fine detail and save its ground truth")
    y.add_argument("--preview", action="store_true", help="write contact_sheet.png of 64 renders")
    y.add_argument("--shard-size", type=int, default=25, help="images per shard (default 25)")
    y.add_argument("--samples", type=int, default=10, help="Cycles samples per pixel, denoised (default 10)")
    y.add_argument("--format", choices=("png", "jpg"), default="png", help="image format (default png)")
    y.add_argument("--model", metavar="PATH", help="ICT-FaceKit path")
    return p


def _lods(text: str) -> list[int]:
    try:
        lods = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise OutputError(f"--lod takes a list like 0,1,2; got {text!r}.") from None
    if not lods or any(x not in (0, 1, 2) for x in lods):
        raise OutputError(f"--lod takes levels from 0, 1 and 2; got {text!r}.")
    return lods


def _formats(text: str) -> list[str]:
    fmts = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in fmts if f not in ("glb", "fbx")]
    if bad:
        raise OutputError(f"--export takes glb and/or fbx; got {', '.join(bad)}.")
    return fmts


def _targets(photos: list[str], out: Path) -> list[tuple[str, Path]]:
    if len(photos) == 1:
        return [(photos[0], out)]
    used: dict[str, int] = {}
    res = []
    for ph in photos:
        stem = Path(ph).stem or "photo"
        n = used.get(stem, 0)
        used[stem] = n + 1
        res.append((ph, out / (stem if n == 0 else f"{stem}_{n + 1}")))
    return res


def _blender():
    try:
        from .addon import build, files  # noqa: F401  (imports bpy)
    except ImportError as e:
        raise BlenderUnavailable(
            "head.blend and head.glb need Blender's Python module: `pip install bpy==5.0.1` (Python 3.11), "
            f"or pass --no-blend. ({e})") from None
    return build, files


def create_one(photo: str, out_dir: Path, args, log) -> dict:
    from .core import create_avatar
    from .core.export import write_core_outputs

    formats = _formats(args.export)
    lods = _lods(args.lod)
    if formats and args.no_blend:
        raise OutputError("--export needs Blender; drop --no-blend.")
    expected = CORE_OUTPUTS + (() if args.no_blend else BLEND_OUTPUTS) + tuple(f"head.{f}" for f in formats
                                                                            if f != "glb")
    present = [n for n in expected if (out_dir / n).exists()]
    if present and not args.overwrite:
        if len(present) == len(expected):
            return {"status": "skipped", "reason": "outputs exist (pass --overwrite to redo)"}
        raise OutputError(f"{str(out_dir)!r} already has {', '.join(present)} from an earlier or unrelated run. "
                          "Pass --overwrite to replace them, or choose another --out folder.")
    if not args.no_blend:
        build, files = _blender()  # fail early, before the work
    avatar = create_avatar(photo, face_index=args.face_index, texture_size=args.texture_size,
                           model_path=args.model, use_regressor=False if args.no_regressor else None,
                           detail=False if args.no_detail else None)
    t = time.perf_counter()
    write_core_outputs(avatar, out_dir, overwrite=True)
    if not args.no_blend:
        files.new_empty_scene()
        made = build.build_head(avatar, name=Path(photo).stem or "Head")
        head = made["head"]
        if args.rig or formats:
            from .addon import export as hf_export, rig as hf_rig

            hf_rig.add_rig(head, avatar.model, arkit=args.arkit52)
            for fmt in formats:
                hf_export.export_head(head, out_dir / f"head.{fmt}", fmt, lods, overwrite=True,
                                      get_model=lambda: avatar.model)
        if "glb" not in formats:
            from .addon.detail import detail_as_normal_map

            with detail_as_normal_map(head, lambda: avatar.model):  # glTF has no displacement: detail as normal map
                files.export_glb(out_dir / "head.glb", [head], overwrite=True)
        files.save_blend(out_dir / "head.blend", overwrite=True)
    avatar.timings["write"] = time.perf_counter() - t
    return {"status": "ok", "avatar": avatar}


def cmd_create(args) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: --out {str(out)!r} is a file; give a folder.", file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PermissionError
    except (PermissionError, OSError):
        print(f"error: cannot write to {str(out)!r}. Choose a folder you can write to.", file=sys.stderr)
        return 2
    failures: list[tuple[str, str]] = []
    done = skipped = doubtful = 0
    targets = _targets(args.photos, out)
    for i, (photo, target) in enumerate(targets, 1):
        prefix = f"[{i}/{len(targets)}] {photo}"
        t0 = time.perf_counter()
        try:
            r = create_one(photo, target, args, print)
        except HeadforgeError as e:
            failures.append((photo, str(e)))
            print(f"{prefix}: FAILED: {e}", file=sys.stderr)
            if isinstance(e, BlenderUnavailable):
                break
            continue
        if r["status"] == "skipped":
            skipped += 1
            if not args.quiet:
                print(f"{prefix}: skipped, {r['reason']}")
            continue
        done += 1
        a = r["avatar"]
        if not args.quiet:
            tm = a.timings
            print(f"{prefix}: {time.perf_counter() - t0:.1f} s (landmarks {tm['landmarks']:.2f}, fit {tm['fit']:.2f}, "
                  f"texture {tm['texture']:.2f}, files {tm['write']:.2f}); landmark error {a.nme68:.2f} % of eye "
                  f"distance -> {target}")
        if a.quality is not None and not a.quality.ok:
            doubtful += 1
            print(f"{prefix}: warning: the head is doubtful: {'; '.join(a.quality.reasons)}.", file=sys.stderr)
    print(f"headforge: {done} created ({doubtful} doubtful), {skipped} skipped, {len(failures)} failed; "
          f"outputs in {out.resolve()}")
    if len(targets) > 1:
        for photo, why in failures:
            print(f"  {photo}: {why}", file=sys.stderr)
    return 1 if failures else 0


def cmd_export(args) -> int:
    blend = Path(args.blend)
    if not blend.is_file():
        print(f"error: {str(blend)!r} is not a .blend file.", file=sys.stderr)
        return 2
    try:
        lods = _lods(args.lod)
        build, files = _blender()
        import bpy

        from .addon import export as hf_export, rig as hf_rig

        try:
            bpy.ops.wm.open_mainfile(filepath=str(blend.resolve()), load_ui=False)
        except RuntimeError as e:
            raise OutputError(f"Cannot open {str(blend)!r} as a Blender file: {e}") from None
        heads = [o for o in bpy.data.objects if hf_rig.is_headforge_head(o) and not o.get("headforge_lod_of")]
        if args.object:
            heads = [o for o in heads if o.name == args.object]
        if not heads:
            what = f"named {args.object!r} " if args.object else ""
            raise OutputError(f"{str(blend)!r} has no Headforge head {what}(objects made by Create Head or "
                              "`headforge create`).")
        out = Path(args.out) if args.out else blend.parent
        single = len(heads) == 1 and len(args.format) == 1 and out.suffix.lower() in (".glb", ".fbx")
        written = []
        model = None
        for head in heads:
            if args.rig or args.arkit52:
                if not head.get("headforge_rig"):
                    from .core import load_face_model

                    model = model or load_face_model(args.model)
                    hf_rig.add_rig(head, model, arkit=args.arkit52)
            for fmt in args.format:
                target = out if single else out / f"{bpy.path.clean_name(head.name)}.{fmt}"
                if not single:
                    out.mkdir(parents=True, exist_ok=True)
                written.append(hf_export.export_head(head, target, fmt, lods, overwrite=args.overwrite))
    except HeadforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for w in written:
        print(f"wrote {w}")
    return 0


def cmd_synth(args) -> int:
    from .addon.synth_farm import contact_sheet, synthesize
    from .core.synth import SynthConfig

    cfg = SynthConfig(count=args.count, size=args.size, seed=args.seed, details=args.details,
                      shard_size=args.shard_size, samples=args.samples, image_format=args.format)
    try:
        summary = synthesize(cfg, args.out, workers=args.workers, scheduler=args.scheduler, model_path=args.model)
        if args.preview:
            print(f"contact sheet: {contact_sheet(args.out)}")
    except HeadforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"headforge synth: {summary['rendered']} shards rendered, {summary['skipped']} already done, "
          f"{len(summary['failed'])} failed; set in {Path(args.out).resolve()}")
    for k, why in summary["failed"].items():
        print(f"  shard {k}: {why.splitlines()[0] if why else ''}", file=sys.stderr)
    return 1 if summary["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    p = _parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 2
    try:
        return {"export": cmd_export, "synth": cmd_synth}.get(args.command, cmd_create)(args)
    except KeyboardInterrupt:
        print("headforge: cancelled", file=sys.stderr)
        return 130
