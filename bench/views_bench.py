"""Several photos of one person (``make bench-views``): how the head's identity and texture improve with views.

Held-out synthetic people (``synth --views 5``: each person in five photos, other poses, expressions and
framings), the most frontal photo first; only people whose five photos MediaPipe all finds, so that every row
measures the same people. For 1, 2, 3 and 5 photos: the neutral face error (identity plus
corrective field, no expression, against the true identity, mm over the face after a similarity alignment),
the same for the mean of the single-photo heads (the simple alternative to a joint fit), the share of the
skin atlas the photos see, and the fit's seconds. Prints one table; ``--json`` keeps the numbers.

    python bench/views_bench.py --set out/data/views-heldout-v2 --people 40
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

import numpy as np  # noqa: E402

from accuracy_bench import face_error_mm, neutral  # noqa: E402
from headforge.core import descriptor as D  # noqa: E402
from headforge.core.errors import HeadforgeError  # noqa: E402
from headforge.core.landmarks import detect_landmarks  # noqa: E402
from headforge.core.facemodel import load_face_model  # noqa: E402
from headforge.core.pipeline import fit_photos  # noqa: E402
from headforge.core.texture import PhotoView, project_texture  # noqa: E402

COUNTS = (1, 2, 3, 5)
TEXTURE_SIZE = 512


def seen_share(model, shapes, images) -> float:
    """Share of the skin atlas's texels the photos see (the first photo's texture with the others blended in)."""
    first, lm = shapes[0].fit, shapes[0].landmarks
    others = [PhotoView(s.fit.vertices, s.fit.camera, im, s.landmarks.points[:468])
              for s, im in zip(shapes[1:], images[1:])]
    tex = project_texture(model, first.vertices, first.camera, images[0], TEXTURE_SIZE, lm.points[:468],
                          others=others)
    return float(tex.visible.sum() / max(tex.islands.sum(), 1))


def main() -> int:
    from headforge.networks.dataset import SynthSet

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True, help="a set rendered with synth --views 5")
    ap.add_argument("--people", type=int, default=40)
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()
    ds = SynthSet(args.set)
    views = ds.config.views
    if views < max(COUNTS):
        print(f"error: {args.set!r} has {views} photos per person; render it with synth --views {max(COUNTS)}",
              file=sys.stderr)
        return 2
    model = load_face_model()
    lab = ds.labels(["identity", "pose"])
    rows = {k: {"joint": [], "mean of singles": [], "seen": [], "seconds": []} for k in COUNTS}
    same, firsts, missed = [], [], 0
    for person in range(min(args.people, len(ds) // views)):
        order = person * views + np.argsort(np.abs(lab["pose"][person * views:(person + 1) * views, 0]))
        truth = model.vertices(lab["identity"][order[0]])
        images, yaws, descriptors = [], [], []
        for i in order:   # the photos MediaPipe finds a face in, most frontal first
            img = ds.image(int(i))
            try:
                lm = detect_landmarks(img)
            except HeadforgeError:
                missed += 1
                continue
            images.append(img)
            yaws.append(float(lab["pose"][i, 0]))
            descriptors.append(D.face_descriptor(img, lm.points))
        if not images:
            continue
        firsts.append(descriptors[0])
        same += [(abs(y), D.descriptor_distance(descriptors[0], d)) for y, d in zip(yaws[1:], descriptors[1:])]
        if len(images) < max(COUNTS):
            continue
        singles = [neutral(model, fit_photos([(im, 0)], model)[0].fit) for im in images]
        for k in COUNTS:
            t = time.perf_counter()
            shapes = fit_photos([(im, 0) for im in images[:k]], model, check_person=False)
            rows[k]["seconds"].append(time.perf_counter() - t)
            rows[k]["joint"].append(face_error_mm(neutral(model, shapes[0].fit), truth))
            rows[k]["mean of singles"].append(face_error_mm(np.mean(singles[:k], axis=0), truth))
            rows[k]["seen"].append(seen_share(model, shapes, images[:k]))
    print(f"{args.set}: {len(rows[1]['joint'])} people with all {max(COUNTS)} photos found ({missed} photos without "
          "a detected face)")
    print("| photos | neutral face error, joint fit | mean of the single-photo heads | atlas seen | fit seconds |")
    print("|---|---|---|---|---|")
    summary = {"people": len(rows[1]["joint"]), "photos_missed": missed, "by_photos": {}}
    for k in COUNTS:
        r = {n: float(np.mean(v)) for n, v in rows[k].items()}
        summary["by_photos"][k] = r
        print(f"| {k} | {r['joint']:.2f} mm | {r['mean of singles']:.2f} mm | {r['seen']:.1%} | {r['seconds']:.2f} |")
    # the same-person check: one person's other photos by yaw, and different people's most frontal photos
    other = [D.descriptor_distance(a, b) for i, a in enumerate(firsts) for b in firsts[i + 1:]]
    print("\n| face-descriptor distance | n | median | share >= threshold |\n|---|---|---|---|")
    groups = {f"same person, other photo at {lo}-{hi} deg yaw": [d for y, d in same if lo <= y < hi]
              for lo, hi in ((0, 30), (30, 45), (45, 60), (60, 91))}
    groups["different people (most frontal photos)"] = other
    for name, v in groups.items():
        if v:
            refused = float(np.mean(np.array(v) >= D.SAME_PERSON_DISTANCE))
            print(f"| {name} | {len(v)} | {np.median(v):.2f} | {refused:.0%} |")
            summary.setdefault("descriptor", {})[name] = {"n": len(v), "median": float(np.median(v)),
                                                          "refused": refused}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
