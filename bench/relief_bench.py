"""`make bench-detail` (first part): the medium-scale relief from the photo's shading (``core.relief``).

1. **Known relief on real photos' heads**: each photo's fitted head gets a known relief (random bumps about
   2.5 mm across, or furrows about 1.5 mm wide; 0.3 mm RMS) and albedo (one skin colour, or with 400 freckles
   1-4 mm across), lit from the upper left (``core.relief_scenes``), drawn into the photo
   (``core.relief.draw_relief``) and saved as JPEG 85. Over the solved face (15 texels in from its edge): the
   share of the true medium band's variance the relief explains, its correlation with it and, for a flat
   surface, the relief it makes up (RMS, mm; the issue's bound is 0.05 mm).
2. **Real photos**: the relief's RMS (mm) over the solved skin, and its correlation with the relief from each
   copy of the photo (mirrored and mapped back, 70 % size, JPEG 40, 10 % cut off one side; each fitted
   again).
3. **Time** of ``shading_relief`` at a 1024 atlas, warm (median of 3 per photo).
4. With ``--renders DIR`` (a ``synth --details`` set): Cycles renders of synthetic people with their true
   displacement. Each render is made into a head as a photo would be; the relief, FineNet's detail and the
   image high-pass (its gain fitted on the set itself, which favours it) are compared with the true
   displacement in FineNet's 256 crop, where the relief was solved, at the issue's two scales (medium: a
   Gaussian low-pass of 4 crop pixels; fine: what it leaves): the share of the true detail's variance each
   explains.
5. With ``--flat-renders DIR`` (a ``synth --albedo --shading`` set, no detail): the relief made up where there
   is none, solved on the true head through the true camera from the render, from its true skin colour times
   its true light, and from one skin colour times that light (so what is left comes from the light alone).

Usage: python bench/relief_bench.py [--json out/relief.json] [--renders DIR [--limit N]]
       [--flat-renders DIR] [--renders-only]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # the true light on the skin (part 5)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from accuracy_bench import perturbations, real_photos, same_face  # noqa: E402
from light_bench import read_albedo, read_shading  # noqa: E402

from headforge.core import detail, relief, relief_scenes as scenes, segment, synth as S  # noqa: E402
from headforge.core.errors import HeadforgeError  # noqa: E402
from headforge.core.facemodel import ATLAS_FACE, load_face_model  # noqa: E402
from headforge.core.image import linear_to_srgb, load_image, srgb_to_linear  # noqa: E402
from headforge.core.landmarks import detect_landmarks  # noqa: E402
from headforge.core.pipeline import fit_photo  # noqa: E402
from headforge.core.raster import rasterize  # noqa: E402
from headforge.core.texture import mirror_texels  # noqa: E402

SIZE = 1024
TILE = round(ATLAS_FACE * SIZE)
SCALES = ("medium", "fine")  # the two scales (networks.train_fine.detail_scales)
SCENES = {  # name: (relief, albedo)
    "bumps": (scenes.bumps, False), "bumps, freckles": (scenes.bumps, True),
    "furrows": (scenes.wrinkles, False), "furrows, freckles": (scenes.wrinkles, True),
    "flat": (None, False), "flat, freckles": (None, True)}


def solve(model, shape, image, covered=None):
    return relief.shading_relief(model, shape.fit.vertices, shape.fit.camera, image, SIZE,
                                 shape.landmarks.points[:468], covered)


def _inner(solved: np.ndarray) -> np.ndarray:
    """The face tile's solved texels at least 15 texels from the edge of what was solved."""
    return cv2.erode(solved[:TILE, :TILE].astype(np.uint8), np.ones((31, 31), np.uint8)) > 0


def known_relief(model, img: np.ndarray, shape, seed: int) -> dict:
    """Each scene drawn on this photo's head: explained share and correlation, or made-up RMS (mm)."""
    V, cam = shape.fit.vertices, shape.fit.camera
    cm = relief.texel_cm(model, V, SIZE)
    out = {}
    for k, (name, (make, freckles)) in enumerate(SCENES.items()):
        truth = np.zeros((TILE, TILE), np.float32) if make is None else make(TILE, cm, seed=seed + k)
        albedo = scenes.freckled(TILE, cm, seed=seed + k) if freckles else scenes.skin(TILE)
        drawn = relief.draw_relief(model, V, cam, img, truth, albedo, scenes.key_light())
        drawn = cv2.imdecode(cv2.imencode(".jpg", drawn[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])[1],
                             cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        h, solved = solve(model, shape, drawn)
        keep = _inner(solved)
        got = h[:TILE, :TILE][keep]
        if make is None:
            out[name] = {"made_up_mm": float(np.sqrt(np.mean(got ** 2)) * 10)}
            continue
        want = relief.medium_band(truth, solved[:TILE, :TILE], cm)[keep]
        out[name] = {"explained": float(1 - np.var(got - want) / np.var(want)),
                                "correlation": float(np.corrcoef(want, got)[0, 1])}
    return out


def copies_agreement(model, img: np.ndarray, shape, h0: np.ndarray, solved0: np.ndarray) -> dict:
    """Correlation of the relief with each copy's (mirrored copies mapped back through the atlas' mirror)."""
    jm = mirror_texels(SIZE)
    cols = np.flatnonzero(jm >= 0)
    centre = shape.landmarks.points[:468].mean(0)
    out = {}
    for what, (copy, to_copy) in perturbations(img).items():
        try:
            other = same_face(copy, to_copy(centre), model)
        except HeadforgeError:  # the 70 % copy of a small face is too small to find
            out[what] = float("nan")
            continue
        h, solved = solve(model, other, copy, _covered(copy, other))
        if what == "mirrored":
            back, back_solved = np.zeros_like(h), np.zeros_like(solved)
            back[:, cols], back_solved[:, cols] = h[:, jm[cols]], solved[:, jm[cols]]
            h, solved = back, back_solved
        both = solved0 & solved
        out[what] = float(np.corrcoef(h0[both], h[both])[0, 1]) if both.sum() > 1000 else float("nan")
    return out


def _covered(img, shape):
    try:
        return segment.segment(img, shape.landmarks.points).covered
    except segment.SegmenterUnavailable:
        return None


def true_detail(model, root: str, limit: int | None = None) -> dict:
    """Part 4: the relief, FineNet and the image high-pass against the true displacement of Cycles renders."""
    from headforge.networks.dataset import SynthSet
    from headforge.networks.train_fine import detail_scales

    ds = SynthSet(root, limit)
    if not ds.config.details:
        raise SystemExit(f"{root} was rendered without --details: it has no true displacement.")
    net = detail.load()
    names = ("relief", "FineNet", "high-pass")
    se = {(k, scale): 0.0 for k in names + ("truth",) for scale in SCALES}
    cross = dict.fromkeys(SCALES, 0.0)   # high-pass x truth, for its least-squares gain
    hp2 = dict.fromkeys(SCALES, 0.0)
    corr, used, cover, npx = [], 0, [], 0
    for n in range(len(ds)):
        s = ds[n]
        img = s["image"]
        try:
            shape = fit_photo(img, model)
        except HeadforgeError:
            continue
        V, cam, pts = shape.fit.vertices, shape.fit.camera, shape.landmarks.points
        h, solved = solve(model, shape, img, _covered(img, shape))
        r = rasterize(model, V, cam, uv=True)
        M = detail.crop_transform(pts)
        crop = lambda a: cv2.warpAffine(a.astype(np.float32), M, (detail.FINE_CROP,) * 2)  # noqa: E731
        face = crop(s["mask"] == S.MASK_FACE) > 0.99
        inside = face & (crop(S.sample_uv_map(solved.astype(np.float32), r["uv"])) > 0.99)
        if inside.sum() < 500:
            continue
        cover.append(inside.sum() / face.sum())
        npx += int(inside.sum())
        truth = crop(s["disp_image"])
        preds = {"relief": crop(S.sample_uv_map(h, r["uv"])), "FineNet": crop(net.predict(img, r["depth"], pts)),
                 "high-pass": crop(detail.highpass_baseline(img, gain=1.0))}
        for k, p in preds.items():
            for scale, (pp, tt) in zip(SCALES, detail_scales(p, truth, inside)):
                if k == "high-pass":
                    cross[scale] += float(pp @ tt)
                    hp2[scale] += float(pp @ pp)
                else:
                    se[k, scale] += float(((pp - tt) ** 2).sum())
                if k == "relief":
                    se["truth", scale] += float(tt @ tt)
                    if scale == "medium":
                        corr.append(float(np.corrcoef(pp, tt)[0, 1]))
        used += 1
    out = {"renders": used, "of": len(ds), "solved_share_of_face": float(np.mean(cover)),
           "relief_medium_correlation": float(np.mean(corr))}
    for scale in SCALES:
        t2 = se["truth", scale]
        se["high-pass", scale] = t2 - cross[scale] ** 2 / max(hp2[scale], 1e-30)
        for k in names:
            out[f"{k} {scale}"] = 1 - se[k, scale] / max(t2, 1e-30)
        out[f"truth {scale} RMS, mm"] = float(np.sqrt(t2 / max(npx, 1))) * 10
    return out


def _cell(x: float) -> str:
    return "—" if np.isnan(x) else f"{x:.2f}"


def made_up_on_renders(model, root: str, count: int = 20) -> dict:
    """Part 5: the relief made up on Cycles renders without detail (a ``synth --albedo --shading`` set), solved
    on the true head through the true camera (no fitting error), from three images: the render; the true skin
    colour times the true light on the skin; one skin colour times that light. Mean RMS (mm) over the solved
    face, 15 texels in."""
    cfg = S.SynthConfig.from_dict(json.loads((Path(root) / "manifest.json").read_text())["config"])
    if not (cfg.albedo and cfg.shading):
        raise SystemExit(f"{root} was rendered without --albedo --shading.")
    made_up, used = {}, 0
    for k in range(cfg.n_shards):
        d = S.shard_path(Path(root), k)
        for i in cfg.shard_indices(k):
            if used >= count or not (d / S.shading_name(i)).exists():
                continue
            img = load_image(d / f"{i:08d}.{cfg.image_format}")
            try:
                points = detect_landmarks(img).points
            except HeadforgeError:
                continue
            p = S.sample_params(cfg, i, model)
            V = model.vertices(p["identity"], p["expression"])
            cam = S.sample_camera(p, img.shape[0])
            covered = segment.segment(img, points).covered
            for name, image in _light_and_colour(img, d, i).items():
                h, solved = relief.shading_relief(model, V, cam, image, SIZE, points[:468], covered)
                keep = _inner(solved)
                if keep.sum() > 2000:
                    made_up.setdefault(name, []).append(float(np.sqrt(np.mean(h[:TILE, :TILE][keep] ** 2)) * 10))
            used += 1
    return {"renders": used, **{name: float(np.mean(v)) for name, v in made_up.items()}}


def _light_and_colour(render: np.ndarray, d: Path, i: int) -> dict:
    """The render, and images made of its true skin colour and true light at the render's exposure."""
    albedo, light = read_albedo(d, i), read_shading(d, i)
    colour = srgb_to_linear(albedo[..., :3].astype(np.float32) / 255)
    skin = albedo[..., 3] > 128
    exposure = np.median(srgb_to_linear(render.astype(np.float32) / 255)[skin].sum(1)) / max(
        float(np.median((colour * light)[skin].sum(1))), 1e-6)
    srgb8 = lambda x: np.round(linear_to_srgb(np.clip(x * exposure, 0, 1)) * 255).astype(np.uint8)  # noqa: E731
    return {"render": render, "true colour x true light": srgb8(colour * light),
            "one colour x true light": srgb8(np.median(colour[skin], 0) * light)}


def real_photo_rows(model) -> dict:
    """Parts 1-3 on each real photo."""
    rows = {}
    for i, (name, img) in enumerate(real_photos().items()):
        shape = fit_photo(img, model)
        covered = _covered(img, shape)
        h0, solved0 = solve(model, shape, img, covered)
        secs = []
        for _ in range(3):
            t = time.perf_counter()
            solve(model, shape, img, covered)
            secs.append(time.perf_counter() - t)
        rows[name] = {"rms_mm": float(np.sqrt(np.mean(h0[solved0] ** 2)) * 10), "seconds": float(np.median(secs)),
                      "copies": copies_agreement(model, img, shape, h0, solved0),
                      "known": known_relief(model, img, shape, seed=100 * i)}
        print(f"{name}: {json.dumps(rows[name])}", flush=True)
    return rows


def print_photo_tables(rows: dict) -> None:
    print(f"\n## Known relief drawn on the heads of {len(rows)} real photos (JPEG 85; mean over photos)\n")
    print("| scene | variance explained | correlation | made-up relief, mm RMS |")
    print("|---|---|---|---|")
    for scene in SCENES:
        vals = [r["known"][scene] for r in rows.values()]
        if "made_up_mm" in vals[0]:
            print(f"| {scene} | — | — | {np.mean([v['made_up_mm'] for v in vals]):.3f} |")
        else:
            print(f"| {scene} | {np.mean([v['explained'] for v in vals]):.2f} | "
                  f"{np.mean([v['correlation'] for v in vals]):.2f} | — |")
    copies = list(next(iter(rows.values()))["copies"])
    print("\n## Real photos: the relief, and its correlation with each copy's\n")
    print("| photo | RMS, mm | " + " | ".join(copies) + " | seconds |")
    print("|---|---|" + "---|" * len(copies) + "---|")
    for name, r in rows.items():
        print(f"| {name} | {r['rms_mm']:.3f} | " + " | ".join(_cell(r['copies'][c]) for c in copies) +
              f" | {r['seconds']:.2f} |")
    print(f"| mean | {np.mean([r['rms_mm'] for r in rows.values()]):.3f} | " +
          " | ".join(f"{np.nanmean([r['copies'][c] for r in rows.values()]):.2f}" for c in copies) +
          f" | {np.mean([r['seconds'] for r in rows.values()]):.2f} |")


def print_true_detail(r: dict) -> None:
    print(f"\n## Cycles renders with their true displacement ({r['renders']} of {r['of']} made into heads; the "
          f"relief solved over {r['solved_share_of_face']:.0%} of the face)\n")
    print("| predictor | medium: variance explained | fine: variance explained |")
    print("|---|---|---|")
    for k in ("relief", "FineNet", "high-pass"):
        print(f"| {k} | {r[k + ' medium']:.3f} | {r[k + ' fine']:.3f} |")
    print(f"\nTruth over the solved face: medium {r['truth medium RMS, mm']:.3f} mm, fine "
          f"{r['truth fine RMS, mm']:.3f} mm RMS; the relief's medium-scale correlation "
          f"{r['relief_medium_correlation']:.2f} (mean over renders).")


def print_made_up(r: dict) -> None:
    print(f"\n## Relief made up on Cycles renders without detail ({r['renders']} renders, true head and camera)\n")
    print("| solved from | made-up relief, mm RMS |")
    print("|---|---|")
    for k, v in r.items():
        if k != "renders":
            print(f"| {k} | {v:.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None)
    ap.add_argument("--renders", default=None, help="a synth --details set: part 4")
    ap.add_argument("--limit", type=int, default=None, help="part 4 on the set's first N renders")
    ap.add_argument("--flat-renders", default=None, help="a synth --albedo --shading set: part 5")
    ap.add_argument("--renders-only", action="store_true", help="parts 4 and 5 alone")
    args = ap.parse_args()
    model = load_face_model()
    out = {}
    if args.renders:
        out["renders"] = true_detail(model, args.renders, args.limit)
        print_true_detail(out["renders"])
    if args.flat_renders:
        out["flat_renders"] = made_up_on_renders(model, args.flat_renders)
        print_made_up(out["flat_renders"])
    if not args.renders_only:
        out["photos"] = real_photo_rows(model)
        print_photo_tables(out["photos"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
