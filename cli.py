"""Command line: ``python -m headforge create PHOTO [PHOTO ...] --out DIR`` (and ``track``, ``export``,
``synth``).

One photo writes into DIR; several photos write one sub-folder each (named after the photo, made safe) and
run on Dask (``batch.py``). A photo whose outputs are complete is skipped, so an interrupted batch resumes
where it stopped. A failing photo does not stop the others; the exit status is non-zero when any failed,
and the reasons are listed at the end. ``track CLIP [CLIP ...]`` does the same with clips (``clips.py``).
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
import sys
import time
from pathlib import Path

from .core.errors import HeadforgeError, OutputError


def _parser() -> argparse.ArgumentParser:
    from .core.hairstyle import HAIR_STYLES

    p = argparse.ArgumentParser(prog="python -m headforge",
                                description="Headforge: one photo of a person to a fitted, textured 3D head.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    c = sub.add_parser("create", help="turn photos into heads",
                       description="Turn each photo into a head: mesh.obj, albedo.png, head.blend, head.glb, "
                                   "overlay.png and fit.json.")
    c.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, TIFF, ...)")
    c.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    c.add_argument("--same-person", action="store_true",
                   help="the photos show one person: make one head fitted to all of them (one identity, the "
                        "texture blended from every photo; the first photo's camera and expression) in --out")
    c.add_argument("--face-index", type=int, default=0, metavar="N",
                   help="which face when a photo has several (0 = largest; default 0)")
    c.add_argument("--texture-size", type=int, default=2048, choices=(1024, 2048, 4096),
                   help="albedo texture size in pixels (default 2048)")
    c.add_argument("--model", metavar="PATH", help="ICT-FaceKit FaceXModel.tar.xz or folder "
                                                   "(default: $HEADFORGE_FACE_MODEL or ../shared)")
    c.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    c.add_argument("--no-blend", action="store_true", help="skip head.blend and head.glb (no Blender needed)")
    c.add_argument("--no-coarsenet", "--no-regressor", action="store_true", dest="no_coarsenet",
                   help="start the fit from the mean face, not CoarseNet (--no-regressor: the old name)")
    c.add_argument("--no-descriptor", action="store_true",
                   help="take CoarseNet's identity as it is, not refined by the face-recognition descriptor")
    c.add_argument("--mediapipe-points", action="store_true", dest="no_landmarknet",
                   help="fit to MediaPipe's points and face oval as detected, without LandmarkNet (the head's outline "
                        "as the jawline, and how far to trust each point)")
    c.add_argument("--no-detail", action="store_true",
                   help="no skin detail (displacement.png): neither the folds from the photo's shading nor FineNet's")
    c.add_argument("--no-hair", action="store_true",
                   help="no hair curves in head.blend (by default they follow the photo's hair; exports never carry them)")
    c.add_argument("--hair-style", default="photo", choices=HAIR_STYLES,
                   help="the hair's style: read from the photo (default), or bald, short, medium, long, or tied back "
                        "in a ponytail or a bun, in the colour and with the hairline the photo shows")
    c.add_argument("--hair-length", type=float, metavar="CM",
                   help="the hair this long, within its style's length class (short 2-6 cm, medium 8-16, long 18-32)")
    c.add_argument("--hair-volume", type=float, metavar="CM",
                   help="the hair standing this far out from the scalp, 0.5-5 cm (by default as the photo shows it)")
    c.add_argument("--hair-curl", type=float, metavar="CM", help="curled hair, 0-2 cm (by default straight)")
    c.add_argument("--keep-hair-in-texture", action="store_true", dest="no_segmentation",
                   help="take the texture from every pixel of the face, hair, beard and glasses included (by "
                        "default SegNet finds them and the skin under them is filled); no segmentation, so no "
                        "hair is read either")
    c.add_argument("--keep-photo-light", action="store_true", dest="keep_light",
                   help="leave the photo's light and shadow in the texture (by default they are taken off, so the "
                        "head looks right under any light)")
    c.add_argument("--quiet", "-q", action="store_true", help="print only errors and the summary")
    c.add_argument("--rig", action="store_true", help="add expression shape keys and an armature (head.blend, exports)")
    c.add_argument("--export", metavar="FORMATS", default="",
                   help="also write rigged head.<fmt> for each of glb,fbx (implies --rig; glb replaces the plain head.glb)")
    c.add_argument("--lod", metavar="LIST", default="0", help="LODs in the exports: 0 (full), 1 (~10K), 2 (~3K); e.g. 0,1,2")
    c.add_argument("--arkit52", action="store_true", help="name and merge shape keys as Apple's 52 ARKit blendshapes")
    c.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="photos made at once in a batch, each group in a fresh process (default: one per core)")
    c.add_argument("--scheduler", metavar="ADDR", help="a running Dask scheduler for a batch, e.g. tcp://farm:8786")
    c.add_argument("--dashboard", action="store_true", help="serve Dask's dashboard (on 127.0.0.1 only)")

    t = sub.add_parser("track", help="track a face in a video: the head's pose and expression in every frame",
                       description="Track the face in a clip (a video file, or a folder of frames): per frame the "
                                   "head's pose and its 53 expression weights, smoothed. Writes track.csv (Unreal's "
                                   "Live Link Face CSV: Apple's 52 ARKit weights, head and eye rotations) and "
                                   "track.json (every frame) into --out; several clips run on Dask, each into a "
                                   "sub-folder of --out, and a clip tracked already is skipped.")
    t.add_argument("clips", nargs="+", metavar="CLIP",
                   help="video files (mp4, mov, avi, ...) or folders of frames; several run on Dask, each into a "
                        "sub-folder of --out named after it")
    t.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    t.add_argument("--head", metavar="DIR_OR_BLEND",
                   help="a folder `headforge create` wrote, or a .blend with a Headforge head: track that person "
                        "(default: fit them to the clip)")
    t.add_argument("--export", metavar="FORMATS", default="",
                   help="also the animated head: track.blend and track.glb and/or track.fbx with the performance "
                        "(comma-separated: glb,fbx; needs --head with its head.blend; a head without a rig gets one)")
    t.add_argument("--arkit52", action="store_true",
                   help="with --export, a head without a rig gets Apple's 52 ARKit shape keys")
    t.add_argument("--jaw-bone", action="store_true",
                   help="with --export, the jaw bone opens the mouth instead of the jawOpen shape key (for engines "
                        "that drive a jaw by its bone; track.csv keeps JawOpen)")
    t.add_argument("--no-coarsenet", action="store_true", dest="no_coarsenet",
                   help="each frame's expression from the landmarks alone, without CoarseNet's calibrated guess")
    t.add_argument("--model", metavar="PATH", help="ICT-FaceKit path")
    t.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    t.add_argument("--quiet", "-q", action="store_true", help="print only errors and the summary")
    t.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="clips tracked at once with several clips, each in a fresh process (default: one per core)")
    t.add_argument("--scheduler", metavar="ADDR", help="a running Dask scheduler for several clips")
    t.add_argument("--dashboard", action="store_true", help="serve Dask's dashboard (on 127.0.0.1 only)")
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

    from .core.synth import VERSIONS

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
    y.add_argument("--albedo", action="store_true",
                   help="also render each person's skin colour without light (albedo_NNNNNNNN.png beside the render): "
                        "ground truth for taking a photo's light off")
    y.add_argument("--shading", action="store_true",
                   help="also render the light on each person's skin (the scene with the skin white; "
                        "shading_NNNNNNNN.exr, scene-linear, beside the render): ground truth for the photo's light")
    y.add_argument("--preview", action="store_true", help="write contact_sheet.png of 64 renders")
    y.add_argument("--shard-size", type=int, default=25, help="images per shard (default 25)")
    y.add_argument("--samples", type=int, default=10, help="Cycles samples per pixel, denoised (default 10)")
    y.add_argument("--format", choices=("png", "jpg"), default="png", help="image format (default png)")
    y.add_argument("--version", type=int, choices=VERSIONS, default=2,
                   help="2 (default): people with hair, eyebrows, beards and glasses, in wider poses; "
                        "3: version 2 with eyebrows that show; 4: version 3 with hats, headbands, earrings and "
                        "hands, phones or microphones in front of some faces; 5: version 4 with clothes; 6: version 5 with "
                        "eyes of their own; 7: version 6 with some hair tied back in a ponytail or a bun; 1: the "
                        "bald mannequins of the first sets")
    y.add_argument("--views", type=int, default=1, metavar="N",
                   help="photos of each person (default 1): N renders in a row are one person in other poses, "
                        "expressions and framings (ground truth for several-photo heads)")
    y.add_argument("--clip", type=int, default=0, metavar="FRAMES",
                   help="render each person as a clip of this many frames (expressions and pose eased between "
                        "keyframes, blinks, a still start): ground truth for tracking video")
    y.add_argument("--model", metavar="PATH", help="ICT-FaceKit path")
    y.add_argument("--dashboard", action="store_true", help="serve Dask's dashboard (on 127.0.0.1 only)")
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


def _options(args):
    from .batch import Options
    from .core.hairstyle import check_hair_measures

    formats, lods = _formats(args.export), _lods(args.lod)
    if formats and args.no_blend:
        raise OutputError("--export needs Blender; drop --no-blend.")
    measures = (args.hair_length, args.hair_volume, args.hair_curl)
    if (args.hair_style != "photo" or any(m is not None for m in measures)) and args.no_segmentation:
        raise OutputError("--hair-style, --hair-length, --hair-volume and --hair-curl take the hair's colour and "
                          "hairline from the photo, which --keep-hair-in-texture does not read; drop one of them.")
    check_hair_measures(args.hair_volume, args.hair_curl)
    if args.workers < 1:
        raise OutputError(f"--workers must be at least 1 (got {args.workers}).")
    return Options(face_index=args.face_index, texture_size=args.texture_size, model=args.model,
                   no_blend=args.no_blend, no_coarsenet=args.no_coarsenet, no_descriptor=args.no_descriptor,
                   no_landmarknet=args.no_landmarknet,
                   no_detail=args.no_detail, no_segmentation=args.no_segmentation, no_hair=args.no_hair,
                   keep_light=args.keep_light, hair_style=args.hair_style, hair_length_cm=args.hair_length,
                   hair_volume_cm=args.hair_volume, hair_curl_cm=args.hair_curl, rig=args.rig,
                   export=tuple(formats), lod=tuple(lods), arkit52=args.arkit52,
                   more_photos=tuple(str(Path(p).resolve()) for p in args.photos[1:]) if args.same_person else ())


def _report(res: dict, prefix: str, quiet: bool) -> None:
    """Print one photo's result line (and its warning)."""
    if res["status"] == "ok":
        if not quiet:
            tm = res["timings"]
            print(f"{prefix}: {res['seconds']:.1f} s (landmarks {tm['landmarks']:.2f}, fit {tm['fit']:.2f}, "
                  f"texture {tm['texture']:.2f}, files {tm['write']:.2f}); landmark error {res['nme68']:.2f} % of "
                  f"eye distance -> {res['folder']}")
        if res["doubtful"]:
            print(f"{prefix}: warning: the head is doubtful: {'; '.join(res['doubtful'])}.", file=sys.stderr)
    elif res["status"] == "skipped":
        if not quiet:
            print(f"{prefix}: skipped, {res['reason']}")
    else:
        print(f"{prefix}: {'FAILED' if res['status'] == 'failed' else 'not made'}: {res['reason']}", file=sys.stderr)


def cmd_create(args) -> int:
    from importlib.util import find_spec

    from .batch import make_heads, run_batch
    from .core.outputs import folder_names

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: --out {str(out)!r} is a file; give a folder.", file=sys.stderr)
        return 2
    try:
        opts = _options(args)
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PermissionError
    except HeadforgeError as e:   # options that do not go together, or a hair measure out of range
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError:
        print(f"error: cannot write to {str(out)!r}. Choose a folder you can write to.", file=sys.stderr)
        return 2
    if not opts.no_blend and find_spec("bpy") is None:
        print("error: head.blend and head.glb need Blender's Python module: `pip install bpy==5.0.1` "
              "(Python 3.11), or pass --no-blend.", file=sys.stderr)
        return 1
    photos = args.photos[:1] if args.same_person else args.photos
    items = [(photos[0], str(out))] if len(photos) == 1 else \
        [(ph, str(out / name)) for ph, name in zip(photos, folder_names(photos))]
    index = {p: i for i, (p, _) in enumerate(items, 1)}
    results: list[dict] = []

    def on_result(res: dict):
        results.append(res)
        _report(res, f"[{index[res['photo']]}/{len(items)}] {res['photo']}", args.quiet)

    if len(items) == 1:  # one photo: here, no cluster to start
        make_heads(items, opts, args.overwrite, emit=lambda line: on_result(json.loads(line)))
    else:
        try:
            run_batch(items, opts, args.overwrite, args.workers, args.scheduler, args.dashboard,
                      on_result=on_result, progress=not args.quiet)
        except HeadforgeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    count = {k: sum(r["status"] == k for r in results) for k in ("ok", "skipped", "other", "failed")}
    doubtful = sum(bool(r.get("doubtful")) for r in results)
    kinds = Counter(r.get("kind", "error") for r in results if r["status"] == "failed")
    why = f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if kinds else ""
    print(f"headforge: {count['ok']} created ({doubtful} doubtful), {count['skipped']} skipped, "
          f"{count['other']} not made (another photo's folder), {count['failed']} failed{why}; "
          f"outputs in {out.resolve()}")
    if len(items) > 1:
        for r in results:
            if r["status"] in ("failed", "other"):
                print(f"  {r['photo']}: {r['reason']}", file=sys.stderr)
    return 1 if count["failed"] or count["other"] else 0


def _export_targets(heads: list, formats: list[str], out: Path) -> list[tuple[object, str, Path]]:
    """``(head, format, file)`` for each head and format: ``out`` itself when it names one file for one head
    and format, else ``out/<head>.<format>``."""
    import bpy

    single = len(heads) == 1 and len(formats) == 1 and out.suffix.lower() in (".glb", ".fbx")
    if single:
        return [(heads[0], formats[0], out)]
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {str(out)!r} is a file, but {len(heads) * len(formats)} files are to be "
                          "written (several formats or heads): give a folder for --out.")
    out.mkdir(parents=True, exist_ok=True)
    return [(h, fmt, out / f"{bpy.path.clean_name(h.name)}.{fmt}") for h in heads for fmt in formats]


def cmd_export(args) -> int:
    blend = Path(args.blend)
    if not blend.is_file():
        print(f"error: {str(blend)!r} is not a .blend file.", file=sys.stderr)
        return 2
    try:
        lods = _lods(args.lod)
        from .batch import blender_modules

        blender_modules()
        from .addon import export as hf_export, rig as hf_rig, schema
        from .addon.files import open_heads

        heads = open_heads(blend, args.object)
        targets = _export_targets(heads, args.format, Path(args.out) if args.out else blend.parent)
        if args.rig or args.arkit52:
            unrigged = [h for h in heads if not h.get(schema.RIG)]
            if unrigged:
                from .core import load_face_model

                model = load_face_model(args.model)
                for head in unrigged:
                    hf_rig.add_rig(head, model, arkit=args.arkit52)
        written = [hf_export.export_head(head, path, fmt, lods, overwrite=args.overwrite)
                   for head, fmt, path in targets]
    except HeadforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for w in written:
        print(f"wrote {w}")
    return 0


def cmd_track(args) -> int:
    from .clips import TrackOptions, head_blend, run_clips, track_clips
    from .core.outputs import folder_names

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: --out {str(out)!r} is a file; give a folder.", file=sys.stderr)
        return 2
    try:
        formats = _formats(args.export)
        if formats:
            head_blend(Path(args.head) if args.head else None)
        elif args.jaw_bone or args.arkit52:
            raise OutputError("--jaw-bone and --arkit52 shape the animated head of --export; add --export glb "
                              "(or fbx) with --head.")
        if args.workers < 1:
            raise OutputError(f"--workers must be at least 1 (got {args.workers}).")
    except OutputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    opts = TrackOptions(head=str(Path(args.head).resolve()) if args.head else None, export=tuple(formats),
                        arkit52=args.arkit52, jaw_bone=args.jaw_bone, model=args.model,
                        coarsenet=not args.no_coarsenet)
    clips = args.clips
    items = [(clips[0], str(out))] if len(clips) == 1 else \
        [(c, str(out / name)) for c, name in zip(clips, folder_names(clips))]
    results: list[dict] = []
    if len(items) == 1:  # one clip: here, with a frame count, no cluster to start
        last = [0.0]

        def progress(frame: int, count: int):
            if not args.quiet and time.monotonic() - last[0] > 1.0:
                last[0] = time.monotonic()
                print(f"  frame {frame}" + (f"/{count}" if count > 0 else ""), flush=True)

        track_clips(items, opts, args.overwrite, emit=lambda line: results.append(json.loads(line)),
                    progress=progress)
    else:
        try:
            run_clips(items, opts, args.overwrite, args.workers, args.scheduler, args.dashboard,
                      on_result=results.append, progress=not args.quiet)
        except HeadforgeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    for k, r in enumerate(sorted(results, key=lambda r: clips.index(r["clip"])), 1):
        _report_clip(r, f"[{k}/{len(items)}] {r['clip']}" if len(items) > 1 else "headforge track", args.quiet)
    count = Counter(r["status"] for r in results)
    if len(items) > 1:
        print(f"headforge track: {count['ok']} tracked, {count['skipped']} skipped, {count['other']} not made "
              f"(another clip's folder), {count['failed']} failed; outputs in {out.resolve()}")
    return 1 if count["failed"] or count["other"] else 0


def _report_clip(r: dict, prefix: str, quiet: bool) -> None:
    """Print one clip's result line."""
    if r["status"] == "ok":
        lost = r["lost"]
        print(f"{prefix}: {r['frames']} frames at {r['fps']:.2f} fps, tracked at {r['tracking_fps']:.1f} frames per "
              f"second; {len(lost)} without a face{f' (first {lost[0]})' if lost else ''}; person {r['person']}; "
              f"wrote {r['folder']}")
    elif r["status"] == "skipped":
        if not quiet:
            print(f"{prefix}: skipped, {r['reason']}")
    else:
        print(f"{prefix}: {'FAILED' if r['status'] == 'failed' else 'not made'}: {r['reason']}", file=sys.stderr)


def cmd_synth(args) -> int:
    from .synth_farm import contact_sheet, synthesize
    from .core.synth import SynthConfig

    cfg = SynthConfig(count=args.count, size=args.size, seed=args.seed, details=args.details,
                      shard_size=args.shard_size, samples=args.samples, image_format=args.format,
                      version=args.version, views=args.views, clip=args.clip, albedo=args.albedo,
                      shading=args.shading)
    per_person = args.clip or args.views
    if args.views < 1 or args.clip < 0 or (args.clip and args.views > 1) or args.count % per_person:
        print(f"error: --count ({args.count}) must be a whole number of people of --views photos or --clip frames "
              "each (one of the two)", file=sys.stderr)
        return 2
    try:
        summary = synthesize(cfg, args.out, workers=args.workers, scheduler=args.scheduler, model_path=args.model,
                             dashboard=args.dashboard)
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
        return {"export": cmd_export, "synth": cmd_synth, "track": cmd_track}.get(args.command, cmd_create)(args)
    except KeyboardInterrupt:
        print("headforge: cancelled", file=sys.stderr)
        return 130
