"""CoarseNet and FineNet measurements (the issues' benchmark tables).

CoarseNet, on a held-out synthetic set (``--heldout``, rendered with another seed than training):
face-region vertex error (mm, after similarity alignment) of the mean face, the regression alone, the
fit from the mean face and the fit from the regression; on the real photos: landmark agreement after the
fit with and without the initialiser and the Gauss-Newton steps; inference time; model size.

FineNet, on a held-out ``--details`` set (``--detail-heldout``): RMSE (mm) in the face mask against the
zero and high-pass baselines; inference time at 256^2; model size.

Usage: python bench/networks_bench.py --heldout DATA [--detail-heldout DATA] [--n 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from headforge.core import regress  # noqa: E402
from headforge.core.correspondence import aligned_distance, load_correspondence  # noqa: E402
from headforge.core.errors import HeadforgeError  # noqa: E402
from headforge.core.facemodel import load_face_model  # noqa: E402
from headforge.core.fit import fit_landmarks  # noqa: E402
from headforge.core.landmarks import detect_landmarks  # noqa: E402
from headforge.core.facemodel import FACE_END  # noqa: E402


def aligned_error_mm(pred: np.ndarray, true: np.ndarray, face: np.ndarray) -> float:
    """Mean distance (mm) over the face region after a similarity alignment of pred to true."""
    return aligned_distance(pred[face], true[face]) * 10


def settled(history, tol: float = 0.02) -> int:
    """Outer iterations until the landmark error changes by less than ``tol`` (% of eye distance)."""
    h = list(history[:-1])  # the last entry is after the corrective field
    for k in range(1, len(h)):
        if abs(h[k] - h[k - 1]) < tol:
            return k
    return len(h)


def coarse(heldout: str, n: int, rows: list, weights=None):
    from headforge.networks.dataset import SynthSet
    from headforge.samples import astronaut, grace_hopper_path

    from headforge.core.image import load_image

    model = load_face_model()
    corr = load_correspondence(model)
    net = regress.load(weights)
    face = np.arange(FACE_END)
    ds = SynthSet(heldout)
    default = f"fit from regression (default, prior strength {regress.PRIOR_STRENGTH:g})"
    errs = {"mean face": [], "regression": [], "fit from mean": [], default: [],
            "fit from regression (start only, prior at the mean)": [], "fit from regression, prior strength 1": []}
    steps = {k: [] for k in errs if k.startswith("fit")}
    for k in range(min(n, len(ds))):
        s = ds[k]
        try:
            lm = detect_landmarks(s["image"])
        except HeadforgeError:
            continue
        true = model.vertices(s["identity"], s["expression"])
        p = net.predict(s["image"], lm.points)
        errs["mean face"].append(aligned_error_mm(model.vertices(), true, face))
        errs["regression"].append(aligned_error_mm(model.vertices(p.identity, p.expression), true, face))
        for name, init in (("fit from mean", None), (default, regress.initial_guess(p, *lm.image_size)),
                           ("fit from regression (start only, prior at the mean)",
                            regress.initial_guess(p, *lm.image_size, as_prior=False)),
                           ("fit from regression, prior strength 1", regress.initial_guess(p, *lm.image_size, prior_strength=1))):
            f = fit_landmarks(model, corr, lm.points, lm.image_size, init=init)
            errs[name].append(aligned_error_mm(f.vertices, true, face))
            steps[name].append(settled(f.history))
    base = np.mean(errs["mean face"])
    for name, e in errs.items():
        gn = f", settled after {np.mean(steps[name]):.1f} outer iterations" if name in steps else ""
        rows.append((f"held-out face error: {name}", f"{np.mean(e):.2f} mm",
                     f"{1 - np.mean(e) / base:+.0%} vs mean face, {len(e)} renders{gn}"))
    photos = {"astronaut": astronaut(), "grace_hopper": load_image(grace_hopper_path())}
    for name, img in photos.items():
        lm = detect_landmarks(img)
        for label, init in (("mean", None), ("regression", regress.initial_guess(net.predict(img, lm.points), *lm.image_size))):
            f = fit_landmarks(model, corr, lm.points, lm.image_size, init=init)
            cmax = np.linalg.norm(f.corrective, axis=1).max() * 10
            rows.append((f"{name}: fit from {label}", f"{f.landmark_error:.2f} % eye dist",
                         f"settled after {settled(f.history)} outer iterations, history {np.round(f.history, 2).tolist()}, "
                         f"corrective field max {cmax:.1f} mm"))
    img = photos["astronaut"]
    lm = detect_landmarks(img)
    net.predict(img, lm.points)
    t = time.perf_counter()
    for _ in range(50):
        net.predict(img, lm.points)
    rows.append(("CoarseNet inference (crop + onnxruntime, CPU)", f"{(time.perf_counter() - t) / 50 * 1000:.1f} ms",
                 "target <= 15 ms"))
    rows.append(("CoarseNet file", f"{Path(weights or regress.WEIGHTS).stat().st_size / 1e6:.1f} MB", "target <= 20 MB"))


def finenet(heldout: str, rows: list):
    """The issue's table (RMSE in the face mask against zero and the image high-pass), plus the constant
    baseline and the stricter structure and wrinkle-scale comparisons (``train_fine.detail_errors``)."""
    from headforge.core import detail
    from headforge.networks.train_fine import MEDIUM_SIGMA_PX, detail_errors

    net = detail.load()
    const = float(net.meta.get("constant_cm", 0.0))  # the training set's mean displacement
    e = detail_errors(lambda x: net.session.run(None, {"input": x[None]})[0][0, 0], heldout, const)
    for name, key in (("FineNet", "rmse_mm"), ("zero", "zero_rmse_mm"), ("constant (training mean)", "constant_rmse_mm"),
                      ("high-pass (gain fitted on this set)", "highpass_rmse_mm")):
        rows.append((f"detail RMSE: {name}", f"{e[key]:.4f} mm",
                     f"{1 - e[key] / e['zero_rmse_mm']:+.0%} vs zero, {e['images']} renders"))
    for name, key, base, vs in (("structure", "structure_rmse_mm", "structure_flat_rmse_mm", "flat"),
                                ("wrinkle scale", "wrinkle_rmse_mm", "wrinkle_constant_rmse_mm", "constant")):
        rows.append((f"detail RMSE, {name}: FineNet", f"{e[key]:.4f} mm", f"{1 - e[key] / e[base]:+.1%} vs {vs}"))
        rows.append((f"detail RMSE, {name}: {vs}", f"{e[base]:.4f} mm", ""))
    for name, target in (("medium", "40 %"), ("fine", "20 %")):
        rows.append((f"detail variance explained, {name} scale (sigma {MEDIUM_SIGMA_PX:g} px low-pass"
                     f"{'' if name == 'medium' else ' removed'})", f"{e[f'{name}_explained']:.1%}", f"target >= {target}"))
    x = np.zeros((1, 4, detail.FINE_CROP, detail.FINE_CROP), np.float32)
    net.session.run(None, {"input": x})
    t0 = time.perf_counter()
    for _ in range(10):
        net.session.run(None, {"input": x})
    rows.append(("FineNet inference 256^2 (CPU)", f"{(time.perf_counter() - t0) / 10 * 1000:.0f} ms", "target <= 150 ms"))
    rows.append(("FineNet file", f"{detail.WEIGHTS.stat().st_size / 1e6:.1f} MB", "target <= 20 MB"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heldout")
    ap.add_argument("--detail-heldout")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--coarse-weights", help="a CoarseNet ONNX file other than the shipped one")
    args = ap.parse_args()
    rows: list = []
    if args.heldout:
        coarse(args.heldout, args.n, rows, args.coarse_weights)
    if args.detail_heldout:
        finenet(args.detail_heldout, rows)
    w = [max(len(r[i]) for r in rows) for i in range(3)] if rows else [0, 0, 0]
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    main()
