"""`make bench-accuracy`: how close the heads are to the truth, beside the raw detector and a peer (eos).

1. **Held-out renders** (``--heldout``, a synthetic set rendered with another seed than any training set):
   68-point NME against the true landmarks (bounding-box normalised; the jawline's truth is the silhouette
   point nearest to each ICT jaw vertex's projection, as an annotator marks the visible outline), and the face-region 3D
   error of the **neutral** identity after a similarity alignment, for the mean face, raw MediaPipe mapped
   to 68, CoarseNet alone, CoarseNet with the descriptor's ridge (``core.identity``, the fit's guess), Headforge
   (detect + CoarseNet + descriptor + fit, the product's shape stage) and eos-py
   1.5.0 fitting the same ICT model to the same 68 landmarks.
2. **Real photos** (``../shared/photos``, the astronaut and Grace Hopper): stability of the neutral identity
   under mirroring, a 70 % downscale, JPEG quality 40 and a crop that cuts 10 % off one side (mean vertex
   distance over the face after a similarity alignment, mm), the largest corrective move, the verdict; the
   distance between the neutral faces from different photos of one person (Emma's three, Trump's two);
   and the NME of the one hand-annotated photo.
3. **Speed**: the shape stage warm (landmarks + CoarseNet + fit) and eos' fit, median.

Usage: python bench/accuracy_bench.py --heldout DATA [--n 300] [--no-eos] [--mediapipe-points | --inner-points]
       [--no-descriptor]
       [--json out/accuracy.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from headforge.samples import astronaut, grace_hopper_path  # noqa: E402

from headforge.core import config, identity, regress  # noqa: E402
from headforge.core.camera import Camera, euler_degrees  # noqa: E402
from headforge.core.correspondence import aligned_distance, load_correspondence  # noqa: E402
from headforge.core.landmarks import detect_landmarks  # noqa: E402
from headforge.core.descriptor import face_descriptor  # noqa: E402
from headforge.core.errors import HeadforgeError  # noqa: E402
from headforge.core.facemodel import FACE_END, SKIN_END, load_face_model  # noqa: E402
from headforge.core.fit import annotated_landmarks_68  # noqa: E402
from headforge.core.image import load_image  # noqa: E402
from headforge.core.pipeline import fit_photo  # noqa: E402

FACE = np.arange(FACE_END)
YAW_BINS = ((0, 15), (15, 30), (30, 90))
#: iBUG-68's parts, for the annotated photo's error by part
PARTS = {"jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36), "eyes": slice(36, 48),
         "mouth": slice(48, 68)}
#: the product's identity guess includes the descriptor ridge (``--no-descriptor``: CoarseNet's alone)
USE_DESCRIPTOR = identity.WEIGHTS.exists()


def nme_bbox(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean point distance over sqrt(width x height) of the true landmarks' box (AFLW2000-3D's NME)."""
    w, h = np.ptp(true[:, 0]), np.ptp(true[:, 1])
    return float(np.linalg.norm(pred - true, axis=1).mean() / np.sqrt(w * h))


def nme_eyes(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean point distance over the outer-eye-corner distance of the true landmarks (iBUG 36, 45)."""
    return float(np.linalg.norm(pred - true, axis=1).mean() / np.linalg.norm(true[36] - true[45]))


def part_errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Mean point distance of each of iBUG-68's :data:`PARTS`, % of the outer-eye-corner distance."""
    err = np.linalg.norm(pred - true, axis=1) / np.linalg.norm(true[36] - true[45]) * 100
    return {k: float(err[sl].mean()) for k, sl in PARTS.items()}


def raw_mediapipe_68(img: np.ndarray, model, face_index: int = 0) -> np.ndarray:
    """(68, 2) MediaPipe's points as the detector gives them (one pass, not mirror-averaged), mapped to iBUG-68."""
    return load_correspondence(model).detected_68(detect_landmarks(img, face_index, mirror_average=False).points)


def neutral(model, fit) -> np.ndarray:
    """The person's neutral head of a fit: identity plus corrective field, no expression (cm)."""
    return model.vertices(fit.identity) + fit.corrective


def face_error_mm(a: np.ndarray, b: np.ndarray) -> float:
    return aligned_distance(a[FACE], b[FACE]) * 10


def renders(heldout: str, n: int, model, peer, rows: list, summary: dict):
    from headforge.networks.dataset import SynthSet

    ds = SynthSet(heldout)
    lab = ds.labels(["identity", "expression", "K", "R", "t"])
    keys = ("mean face", "raw MediaPipe", "CoarseNet alone", "CoarseNet + descriptor alone", "Headforge", "eos")
    nme = {k: [] for k in keys}
    ident = {k: [] for k in keys}
    yaw, corrective, doubtful, eos_s, missed = [], [], 0, [], 0
    count = min(n, len(ds))
    for i in range(count):
        img = ds.image(i)
        K = lab["K"][i].astype(np.float64)
        cam = Camera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], lab["R"][i].astype(np.float64),
                     lab["t"][i].astype(np.float64), img.shape[1], img.shape[0])
        verts = model.vertices(lab["identity"][i], lab["expression"][i]).astype(np.float64)
        true_neutral = model.vertices(lab["identity"][i])
        truth = annotated_landmarks_68(model, verts, cam)
        try:
            shape = fit_photo(img, model)
        except HeadforgeError:
            missed += 1
            continue
        yaw.append(abs(euler_degrees(cam.rotation)["yaw"]))
        pred = regress.load().predict(img, shape.landmarks.points, model)
        raw = raw_mediapipe_68(img, model)
        nme["raw MediaPipe"].append(nme_bbox(raw, truth))
        nme["Headforge"].append(nme_bbox(shape.projected68, truth))
        ident["mean face"].append(face_error_mm(model.neutral, true_neutral))
        ident["CoarseNet alone"].append(face_error_mm(model.vertices(pred.identity), true_neutral))
        if USE_DESCRIPTOR:
            guess = identity.refine(face_descriptor(img, shape.landmarks.points), pred.identity, regress.WEIGHTS,
                                    model=model)
            ident["CoarseNet + descriptor alone"].append(face_error_mm(model.vertices(guess), true_neutral))
        ident["Headforge"].append(face_error_mm(neutral(model, shape.fit), true_neutral))
        corrective.append(float(np.linalg.norm(shape.fit.corrective[:SKIN_END], axis=1).max() * 10))
        doubtful += not shape.quality.ok
        if peer is not None:
            r = peer.fit(raw, img.shape[1], img.shape[0])
            nme["eos"].append(nme_bbox(r.projected68, truth))
            ident["eos"].append(face_error_mm(model.vertices(r.identity), true_neutral))
            eos_s.append(r.seconds)
    yaw = np.array(yaw)
    base_nme, base_id = np.mean(nme["raw MediaPipe"]), np.mean(ident["mean face"])
    for k in keys:
        parts = []
        if nme[k]:
            parts.append(f"NME {np.mean(nme[k]) * 100:.2f} % ({np.mean(nme[k]) / base_nme - 1:+.0%} vs raw MediaPipe)")
        if ident[k]:
            parts.append(f"neutral face error {np.mean(ident[k]):.2f} mm ({np.mean(ident[k]) / base_id - 1:+.0%} vs mean face)")
        if parts:
            rows.append((f"renders: {k}", "; ".join(parts)))
        summary[k] = {"nme_percent": round(float(np.mean(nme[k])) * 100, 3) if nme[k] else None,
                      "neutral_error_mm": round(float(np.mean(ident[k])), 3) if ident[k] else None}
    for lo, hi in YAW_BINS:
        sel = (yaw >= lo) & (yaw < hi)
        if sel.any():
            hf, mp = np.array(nme["Headforge"])[sel], np.array(nme["raw MediaPipe"])[sel]
            er = np.array(ident["Headforge"])[sel]
            rows.append((f"renders, yaw {lo}-{hi} deg ({sel.sum()})",
                         f"NME Headforge {hf.mean() * 100:.2f} % / raw MediaPipe {mp.mean() * 100:.2f} %; neutral "
                         f"face error {er.mean():.2f} mm"))
    rows.append(("renders: found / doubtful / corrective max",
                 f"{len(yaw)} of {count} found; {doubtful} doubtful; corrective field max {max(corrective):.1f} mm "
                 f"(95th percentile {np.percentile(corrective, 95):.1f} mm)"))
    summary["renders"] = {"n": count, "found": len(yaw), "doubtful": doubtful,
                          "corrective_max_mm": round(max(corrective), 2)}
    if eos_s:
        summary["eos_seconds"] = statistics.median(eos_s)


def real_photos() -> dict[str, np.ndarray]:
    shared = config.shared_dir()
    files = sorted((shared / "photos").glob("*.jpg")) + sorted((shared / "photos").glob("*.png")) if shared else []
    out = {f.stem: load_image(f) for f in files}
    out["astronaut"] = astronaut()
    out["grace_hopper"] = load_image(grace_hopper_path())
    return out


def perturbations(img: np.ndarray) -> dict[str, tuple[np.ndarray, callable]]:
    """The copies of a photo, each with the map of a point (x, y) of the photo into the copy."""
    h, w = img.shape[:2]
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 40])
    cut = int(0.1 * w)
    return {"mirrored": (img[:, ::-1].copy(), lambda p: np.array([w - p[0], p[1]])),
            "70 % size": (cv2.resize(img, (round(w * 0.7), round(h * 0.7)), interpolation=cv2.INTER_AREA),
                          lambda p: p * 0.7),
            "JPEG 40": (cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy(), lambda p: p),
            "crop 10 %": (img[:, cut:].copy(), lambda p: p - np.array([cut, 0]))}


def same_face(copy: np.ndarray, centre: np.ndarray, model):
    """The fit of the face of ``copy`` nearest to ``centre`` (pixels): faces of similar size can swap
    places in the largest-first order between copies. Other faces that cannot be fitted (too small) are
    passed over."""
    first = fit_photo(copy, model)
    fits = [first]
    for i in range(1, first.landmarks.n_faces):
        try:
            fits.append(fit_photo(copy, model, face_index=i))
        except HeadforgeError:
            continue
    return min(fits, key=lambda s: np.linalg.norm(s.landmarks.points[:468].mean(0) - centre))


def stability(model, rows: list, summary: dict):
    mirror, flip = model.mirror, np.array([-1.0, 1.0, 1.0])
    moves: dict[str, list] = {}
    per_photo = {}
    for name, img in real_photos().items():
        try:
            base = fit_photo(img, model)
        except HeadforgeError as e:
            rows.append((f"photo {name}", f"not fitted: {type(e).__name__}"))
            per_photo[name] = {"error": type(e).__name__}
            continue
        ref = neutral(model, base.fit)
        centre = base.landmarks.points[:468].mean(0)
        d = {}
        for what, (copy, moved) in perturbations(img).items():
            try:
                other = neutral(model, same_face(copy, moved(centre), model).fit)
            except HeadforgeError:
                d[what] = None
                continue
            if what == "mirrored":
                other = other[mirror] * flip
            d[what] = face_error_mm(other, ref)
            moves.setdefault(what, []).append(d[what])
        cmax = float(np.linalg.norm(base.fit.corrective[:SKIN_END], axis=1).max() * 10)
        pose = euler_degrees(base.fit.camera.rotation)
        rows.append((f"photo {name}", "stability " + ", ".join(
            f"{k} {'-' if v is None else f'{v:.2f}'}" for k, v in d.items()) +
            f" mm; corrective max {cmax:.1f} mm; yaw {pose['yaw']:.0f}; {base.quality.verdict}"))
        per_photo[name] = {"stability_mm": d, "corrective_max_mm": round(cmax, 2), "verdict": base.quality.verdict,
                           "reasons": list(base.quality.reasons)}
    for what, v in moves.items():
        rows.append((f"photos: stability under {what}", f"mean {np.mean(v):.2f} mm, max {np.max(v):.2f} mm "
                                                         f"({len(v)} photos)"))
    allv = [x for v in moves.values() for x in v]
    rows.append(("photos: stability, all copies", f"mean {np.mean(allv):.2f} mm, max {np.max(allv):.2f} mm"))
    summary["photos"] = per_photo
    summary["stability_mm"] = {"mean": round(float(np.mean(allv)), 3), "max": round(float(np.max(allv)), 3)}


#: real photos that show a person another photo shows too (the rest show one person each)
SAME_PERSON_PHOTOS = ("3ddfa_emma", "prnet_trump", "3ddfa_trump_hillary")


def same_person(model, rows: list, summary: dict):
    """The neutral faces from different photos of one person (the three pictures of ``3ddfa_emma.jpg``;
    ``prnet_trump.jpg`` and the left face of ``3ddfa_trump_hillary.jpg``): mean distance between each
    pair, mm over the face after a similarity alignment, for the fit, for CoarseNet alone and for its guess
    with the descriptor; and that distance over the mean distance between different people's (those five, the
    debate's right face and one face of every other real photo): a head that moves less between one person's
    photos only because it moves less between anyone's has not become more like the person."""
    import itertools

    shared = config.shared_dir()
    if shared is None:
        return
    emma = load_image(shared / "photos" / "3ddfa_emma.jpg")
    debate = load_image(shared / "photos" / "3ddfa_trump_hillary.jpg")
    left = min(range(2), key=lambda i: fit_photo(debate, model, face_index=i).landmarks.points[:, 0].mean())
    shots = [("emma", emma, i) for i in range(3)]
    shots += [("trump", load_image(shared / "photos" / "prnet_trump.jpg"), 0), ("trump", debate, left),
              ("hillary", debate, 1 - left)]
    shots += [(name, img, 0) for name, img in real_photos().items() if name not in SAME_PERSON_PHOTOS]
    heads = {"Headforge": [], "CoarseNet alone": [], "CoarseNet + descriptor alone": []}
    for _, img, i in shots:
        shape = fit_photo(img, model, face_index=i)
        heads["Headforge"].append(neutral(model, shape.fit))
        pred = regress.load().predict(img, shape.landmarks.points, model)
        heads["CoarseNet alone"].append(model.vertices(pred.identity))
        if USE_DESCRIPTOR:
            heads["CoarseNet + descriptor alone"].append(model.vertices(identity.refine(
                face_descriptor(img, shape.landmarks.points), pred.identity, regress.WEIGHTS, model=model)))
    people = [who for who, _, _ in shots]
    for who, n in (("emma", 3), ("trump", 2)):
        for k, v in heads.items():
            if v:
                d = float(np.mean([face_error_mm(a, b) for a, b in itertools.combinations(
                    [h for h, p in zip(v, people) if p == who], 2)]))
                rows.append((f"same person, other photo: {who} ({n} photos), {k}",
                             f"{d:.2f} mm between the neutral faces"))
                summary.setdefault("same_person_mm", {})[f"{who} ({n} photos), {k}"] = round(d, 3)
    for k, v in heads.items():
        if v:
            same, other = [], []
            for (a, ha), (b, hb) in itertools.combinations(zip(people, v), 2):
                (same if a == b else other).append(face_error_mm(ha, hb))
            ratio = float(np.mean(same) / np.mean(other))
            rows.append((f"same person over different people ({len(set(people))} people), {k}",
                         f"{ratio:.3f} ({np.mean(same):.2f} / {np.mean(other):.2f} mm)"))
            summary.setdefault("same_over_different", {})[k] = round(ratio, 4)


def annotated(model, peer, rows: list, summary: dict):
    shared = config.shared_dir()
    if shared is None or not (shared / "photos" / "eos_image_0010.pts").exists():
        return
    pts_file = shared / "photos" / "eos_image_0010.pts"
    lines = pts_file.read_text().split("{")[1].split("}")[0].split()
    truth = np.array(lines, float).reshape(68, 2) - 1.0   # 1-based pixel coordinates
    img = load_image(shared / "photos" / "eos_image_0010.png")
    shape = fit_photo(img, model)
    raw = raw_mediapipe_68(img, model)
    results = {"raw MediaPipe": raw, "Headforge": shape.projected68}
    if peer is not None:
        results["eos"] = peer.fit(raw, img.shape[1], img.shape[0]).projected68
    for k, p in results.items():
        parts = part_errors(p, truth)
        rows.append((f"annotated photo: {k}", f"NME {nme_eyes(p, truth):.3f} (outer eyes), "
                                               f"{nme_bbox(p, truth):.3f} (box); by part, % of the eye distance: "
                                               + ", ".join(f"{n} {v:.1f}" for n, v in parts.items())))
        summary.setdefault("annotated", {})[k] = {"nme_eyes": round(nme_eyes(p, truth), 4),
                                                  "nme_box": round(nme_bbox(p, truth), 4),
                                                  "parts_percent": {n: round(v, 2) for n, v in parts.items()}}


def speed(model, rows: list, summary: dict):
    img = astronaut()
    fit_photo(img, model)
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        fit_photo(img, model)
        ts.append(time.perf_counter() - t)
    rows.append(("shape stage (landmarks + CoarseNet + fit), warm", f"{statistics.median(ts) * 1000:.0f} ms "
                                                                    "(astronaut, median of 5; target <= 300 ms)"))
    summary["shape_seconds"] = statistics.median(ts)
    if "eos_seconds" in summary:
        rows.append(("eos fit (same landmarks), median", f"{summary['eos_seconds'] * 1000:.0f} ms"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heldout", help="held-out synthetic set (make train renders out/data/coarse-heldout)")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--no-eos", action="store_true", help="leave out the eos peer")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--mediapipe-points", action="store_true",
                    help="fit to MediaPipe's points and face oval, without LandmarkNet (the fit before it)")
    ap.add_argument("--inner-points", action="store_true",
                    help="the fit follows LandmarkNet's inner points too (core.modellandmarks.FOLLOW_INNER_POINTS)")
    ap.add_argument("--no-descriptor", action="store_true",
                    help="the identity guess is CoarseNet's alone, without the face descriptor's ridge (core.identity)")
    args = ap.parse_args()
    global fit_photo, USE_DESCRIPTOR
    if args.mediapipe_points:
        fit_photo = functools.partial(fit_photo, landmarknet=False)
    if args.no_descriptor:
        fit_photo = functools.partial(fit_photo, descriptor=False)
        USE_DESCRIPTOR = False
    if args.inner_points:
        from headforge.core import modellandmarks

        modellandmarks.FOLLOW_INNER_POINTS = True
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    model = load_face_model()
    peer = None
    if not args.no_eos:
        from eos_peer import EosPeer

        peer = EosPeer(model)
    rows: list = []
    summary: dict = {}
    if args.heldout:
        renders(args.heldout, args.n, model, peer, rows, summary)
    stability(model, rows, summary)
    same_person(model, rows, summary)
    annotated(model, peer, rows, summary)
    speed(model, rows, summary)
    w = max(len(r[0]) for r in rows)
    for a, b in rows:
        print(f"{a.ljust(w)}  {b}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
