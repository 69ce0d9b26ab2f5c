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

Usage: python bench/relief_bench.py [--json out/relief.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from accuracy_bench import perturbations, real_photos, same_face  # noqa: E402

from headforge.core import relief, relief_scenes as scenes, segment  # noqa: E402
from headforge.core.errors import HeadforgeError  # noqa: E402
from headforge.core.facemodel import ATLAS_FACE, load_face_model  # noqa: E402
from headforge.core.pipeline import fit_photo  # noqa: E402
from headforge.core.texture import mirror_texels  # noqa: E402

SIZE = 1024
TILE = round(ATLAS_FACE * SIZE)
SCENES = {  # name: (relief, albedo)
    "bumps": (scenes.bumps, False), "bumps, freckles": (scenes.bumps, True),
    "furrows": (scenes.wrinkles, False), "furrows, freckles": (scenes.wrinkles, True),
    "flat": (None, False), "flat, freckles": (None, True)}


def solve(model, shape, image, covered=None):
    return relief.shading_relief(model, shape.fit.vertices, shape.fit.camera, image, SIZE,
                                 shape.landmarks.points[:468], covered)


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
        keep = cv2.erode(solved[:TILE, :TILE].astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
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


def _cell(x: float) -> str:
    return "—" if np.isnan(x) else f"{x:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    model = load_face_model()
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
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
