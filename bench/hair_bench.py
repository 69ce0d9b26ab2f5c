"""make bench-hair: how well the hair is read from a photo (``core.hairstyle``), on held-out renders of synthetic
set version 2 where the true hair is known. The head and camera are the render's own (so only the reading is
measured, not the fit); the segmentation is SegNet's on MediaPipe's detections, as at inference.

Prints the confusion of true against read style (bald / short / medium / long; the generator's "shaved" counts
as short) and the CIELAB distance between the read hair colour and ``core.hair.hair_srgb`` of the true melanin
and redness; on sets of version 4 and later, how the heads under hats read (the hair hidden under a hat should
not read as bald); on sets of version 7, how hair tied back reads (the reader does not tell it yet: a user chooses
it, ``--hair-style``); and how far the hair is read to stand out from the scalp (its volume) for each true style.

With ``--photos``: the hair read from the real photos (``../shared/photos``, the astronaut, Grace Hopper) and
from their copies (mirrored, at 70 % size, as JPEG at quality 40, with 10 % cut off one side): style, length
and volume, and how far each copy's length and volume are from the photo's. Usage: ``python
bench/hair_bench.py [--heldout out/data/coarse-heldout-v2] [--n 300] [--segnet WEIGHTS] [--photos]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))   # accuracy_bench, beside this file

READ = ("bald", "short", "medium", "long")
TRUE = {"bald": "bald", "shaved": "short", "short": "short", "medium": "medium", "long": "long"}


def main(argv=None) -> int:
    from headforge.core import load_face_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heldout")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--segnet", help="SegNet weights (default: the shipped ones)")
    ap.add_argument("--photos", action="store_true", help="the real photos and their copies too")
    args = ap.parse_args(argv)
    model = load_face_model()
    if args.heldout:
        heldout(args, model)
    if args.photos:
        photos(model)
    return 0


def heldout(args, model) -> None:
    """The tables of the held-out renders (see the module)."""
    from headforge.core import segment
    from headforge.core.camera import Camera
    from headforge.core.hair import hair_srgb
    from headforge.core.hairstyle import hair_from_photo
    from headforge.core.synth import sample_params
    from headforge.networks.dataset import SynthSet, detect_all, detections

    ds = SynthSet(args.heldout, limit=args.n)
    detect_all(ds)
    pts, found = detections(ds)
    conf = np.zeros((len(READ), len(READ)), int)
    colour, under_hats, tied, volume = [], [], [], {}
    for n in np.flatnonzero(found):
        k, j, i = ds.items[n]
        p = sample_params(ds.config, i, model)
        lab = ds[n]
        img = lab["image"]
        K, size = lab["K"], img.shape[0]
        cam = Camera(fx=float(K[0, 0]), fy=float(K[1, 1]), cx=float(K[0, 2]), cy=float(K[1, 2]),
                     rotation=lab["R"].astype(np.float64), translation=lab["t"].astype(np.float64),
                     width=size, height=size)
        verts = model.vertices(lab["identity"], lab["expression"]).astype(np.float64)
        hair = hair_from_photo(model, verts, cam, img, segment.segment(img, pts[n], args.segnet))
        conf[READ.index(TRUE[p["hair"]["style"]]), READ.index(hair.style)] += 1
        if hair.volume_cm is not None:
            volume.setdefault(p["hair"]["style"], []).append(hair.volume_cm)
        if p["hair"].get("tied"):
            tied.append((p["hair"]["tied"], hair.style, hair.tied))
        if (p.get("accessories") or {}).get("hat"):
            under_hats.append((TRUE[p["hair"]["style"]], hair.style, hair.covered))
        if p["hair"]["style"] not in ("bald", "shaved"):
            want = np.asarray(hair_srgb(p["hair"]["melanin"], p["hair"]["redness"]), np.float32)
            got = np.asarray(hair.srgb, np.float32) / 255
            lab_w, lab_g = (cv2.cvtColor(c[None, None], cv2.COLOR_RGB2LAB)[0, 0] for c in (want, got))
            colour.append(float(np.linalg.norm(lab_w - lab_g)))
    print(f"{conf.sum()} held-out renders (of {len(ds)}: MediaPipe finds no face in the rest)")
    print("true \\ read | " + " | ".join(f"{r:>6}" for r in READ) + " | right")
    for t, row in zip(READ, conf):
        print(f"{t:>11} | " + " | ".join(f"{v:6d}" for v in row) + f" | {row[READ.index(t)] / max(row.sum(), 1):.0%}")
    print(f"style right: {np.trace(conf) / max(conf.sum(), 1):.1%}")
    c = np.array(colour)
    print(f"hair colour, CIELAB distance to the true hair's: median {np.median(c):.1f}, 75th percentile "
          f"{np.percentile(c, 75):.1f} ({len(c)} renders with hair)")
    if under_hats:
        t, r, cov = zip(*under_hats)
        print(f"under hats ({len(t)}): style right {np.mean(np.array(t) == np.array(r)):.0%}, read bald "
              f"{r.count('bald')} (truly bald {t.count('bald')}), scalp covered: median {np.median(cov):.2f}")
    if tied:
        kinds, read, read_tied = zip(*tied)
        print(f"tied back ({len(tied)}: {kinds.count('ponytail')} ponytails, {kinds.count('bun')} buns): read as "
              + ", ".join(f"{s} {read.count(s)}" for s in READ)
              + f"; read as tied back {sum(k == r for k, r in zip(kinds, read_tied))}")
    print("volume read (cm), by true style: " + ", ".join(
        f"{k} median {np.median(v):.1f} ({len(v)})" for k, v in sorted(volume.items())))


def photos(model) -> None:
    """The hair of the real photos and of their copies (see the module)."""
    from accuracy_bench import perturbations, real_photos

    from headforge.core import HeadforgeError, create_avatar
    from headforge.core.landmarks import detect_landmarks

    def read(img, near=None):
        index = 0
        if near is not None:   # the face nearest where the photo's face went (faces may swap size order)
            first = detect_landmarks(img)
            centres = [first.points[:468].mean(0)] + [detect_landmarks(img, i).points[:468].mean(0)
                                                      for i in range(1, first.n_faces)]
            index = int(np.argmin([np.linalg.norm(c - near) for c in centres]))
        a = create_avatar(img, face_index=index, texture_size=1024, model=model, detail=False)
        return a.hair, a.landmarks.points[:468].mean(0)

    moves: dict[str, list] = {}
    for name, img in real_photos().items():
        try:
            hair, centre = read(img)
        except HeadforgeError as e:
            print(f"{name}: no head ({type(e).__name__})")
            continue
        line = [f"{name}: {hair.style} {hair.length_cm:.1f} cm, volume {hair.volume_cm} cm"]
        for what, (copy, moved) in perturbations(img).items():
            try:
                h, _ = read(copy, moved(centre))
            except HeadforgeError:
                line.append(f"{what} -")
                continue
            d = (abs(h.length_cm - hair.length_cm), abs((h.volume_cm or 0.0) - (hair.volume_cm or 0.0)))
            moves.setdefault(what, []).append(d)
            line.append(f"{what} {h.style} {h.length_cm:.1f} / {h.volume_cm} cm")
        print("; ".join(line))
    for what, d in moves.items():
        d = np.array(d)
        print(f"copies {what}: length moved {d[:, 0].mean():.2f} cm mean, {d[:, 0].max():.1f} max; volume moved "
              f"{d[:, 1].mean():.2f} cm mean, {d[:, 1].max():.1f} max ({len(d)} photos)")


if __name__ == "__main__":
    sys.exit(main())
