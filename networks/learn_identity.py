"""Learn the identity ridge (``core.identity``): face-recognition descriptor + CoarseNet's identity -> identity.

``python -m headforge.networks.learn_identity --train DATA [--train DATA2] [--limit N] --out core/weights/identity_ridge.npz``

1. MediaPipe runs on every render once (cached beside the shards, as for CoarseNet's training); on each face
   it finds, CoarseNet (with its mirrored crop, as the product runs it: its identity, and its expression for
   ``networks.learn_expression``) and dlib's descriptor give their features, cached per shard in
   ``identity_features.npz`` with the hash of the CoarseNet weights they came from (another CoarseNet computes
   them again).
2. The ridge's penalty and CoarseNet's share of it (a scale on its identity) are chosen by k-fold
   cross-validation on the training renders alone, by the error the benchmarks report (the face region's
   mean vertex distance after a similarity alignment) of the guessed identity.
3. The chosen ridge, learned on every training render, is written with what it was learned from.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..core import identity as I
from ..core import regress
from ..core.correspondence import aligned_distance
from ..core.descriptor import face_descriptor
from ..core.facemodel import FACE_END, load_face_model
from ..core.fileio import save_npz
from .dataset import DETECT_FILE, SynthSet, detect_all, detections, shard_path

FEATURES_FILE = "identity_features.npz"
#: ridge penalties and CoarseNet scales tried by cross-validation
PENALTIES = (0.3, 0.6, 1.0, 2.0, 3.0, 5.0)
COARSE_SCALES = (0.05, 0.1, 0.2)
FOLDS = 5


def _shard_features(ds: SynthSet, k: int, net, model, sha: str) -> None:
    f = shard_path(ds.root, k) / FEATURES_FILE
    if f.exists():
        with np.load(f) as z:
            if str(z["coarsenet_sha256"]) == sha and "coarse_expression" in z.files:
                return
    idx = [n for n, it in enumerate(ds.items) if it[0] == k]
    with np.load(shard_path(ds.root, k) / DETECT_FILE) as z:
        pts, found = z["points"], z["found"]
    coarse = np.zeros((len(idx), I.N_ID), np.float32)
    expression = np.zeros((len(idx), regress.N_EX), np.float32)
    desc = np.zeros((len(idx), I.N_DESCRIPTOR), np.float32)
    for j, n in enumerate(idx):
        if found[j]:
            img = ds.image(n)
            pred = net.predict(img, pts[j], model)
            coarse[j], expression[j] = pred.identity, pred.expression
            desc[j] = face_descriptor(img, pts[j])
    save_npz(f, coarse=coarse, coarse_expression=expression, descriptor=desc, coarsenet_sha256=np.str_(sha))


def load_features(roots: list[str], limit: int | None, coarsenet_path=None, log=print,
                  skip: int = 0) -> dict[str, np.ndarray]:
    """Per render where MediaPipe found the face, of the first ``limit`` of each set less the first ``skip``
    (``networks.dataset.SynthSet``): ``descriptor`` (R, 128), ``coarse`` (R, 100) and ``coarse_expression``
    (R, 53) CoarseNet's identity and expression, ``truth`` (R, 100) and ``truth_expression`` (R, 53) the true
    ones. Features cached beside the shards by an earlier version (without the expression) are made again."""
    model = load_face_model()
    coarsenet_path = coarsenet_path or regress.WEIGHTS
    net, sha = regress.load(coarsenet_path), I.file_sha256(coarsenet_path)
    out = {"descriptor": [], "coarse": [], "coarse_expression": [], "truth": [], "truth_expression": []}
    for root in roots:
        ds = SynthSet(root, limit=limit, skip=skip)
        t = time.perf_counter()
        detect_all(ds)
        for i, k in enumerate(ds.shards):
            _shard_features(ds, k, net, model, sha)
            if log and time.perf_counter() - t > 30:
                log(f"features: {root} shard {i + 1}/{len(ds.shards)}")
                t = time.perf_counter()
        _, ok = detections(ds)
        parts = {key: [] for key in ("descriptor", "coarse", "coarse_expression")}
        for k in ds.shards:
            with np.load(shard_path(ds.root, k) / FEATURES_FILE) as z:
                for key, got in parts.items():
                    got.append(z[key])
        for key, got in parts.items():
            out[key].append(np.concatenate(got)[ok])
        truth = ds.labels(["identity", "expression"])
        out["truth"].append(truth["identity"][ok])
        out["truth_expression"].append(truth["expression"][ok])
    return {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}


#: every how many face vertices the cross-validation's error is measured on
ERROR_STRIDE = 8


class FaceError:
    """The error every table of the project reports: mean vertex distance (cm) over the face region after a
    similarity alignment, of the shape an identity makes against the true identity's (on every
    :data:`ERROR_STRIDE`-th face vertex, for speed)."""

    def __init__(self, model):
        face = np.arange(0, FACE_END, ERROR_STRIDE)
        self.neutral = model.neutral[face].astype(np.float64).ravel()
        self.basis = model.identity_basis[:, face].reshape(I.N_ID, -1).astype(np.float64)

    def __call__(self, pred: np.ndarray, truth: np.ndarray) -> float:
        a = (self.neutral + pred @ self.basis).reshape(len(pred), -1, 3)
        b = (self.neutral + truth @ self.basis).reshape(len(truth), -1, 3)
        return float(np.mean([aligned_distance(p, t) for p, t in zip(a, b)]))


def solve(x: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge from features ``x`` (R, F) to identities ``y`` (R, 100): ``(x_mean, weights, y_mean)``."""
    xm, ym = x.mean(0), y.mean(0)
    a = x - xm
    return xm, np.linalg.solve(a.T @ a + penalty * np.eye(a.shape[1]), a.T @ (y - ym)), ym


def cross_validate(data: dict, error: FaceError, folds: int = FOLDS, seed: int = 0) -> dict:
    """Face error (cm, :class:`FaceError`) of every (penalty, scale) over ``folds`` folds, and of CoarseNet alone
    and the mean face."""
    fold = np.random.default_rng(seed).permutation(len(data["truth"])) % folds
    y = data["truth"]
    scores = {}
    for scale in COARSE_SCALES:
        x = I.features(data["descriptor"], data["coarse"], scale)
        for pen in PENALTIES:
            pred = np.zeros_like(y)
            for f in range(folds):
                tr, te = fold != f, fold == f
                xm, w, ym = solve(x[tr], y[tr], pen)
                pred[te] = (x[te] - xm) @ w + ym
            scores[(pen, scale)] = error(pred, y)
    return {"ridge": scores, "coarsenet": error(data["coarse"], y), "mean face": error(np.zeros_like(y), y)}


def learn(data: dict, model, coarsenet_sha256: str, meta: dict | None = None) -> tuple[I.IdentityRidge, dict]:
    """The ridge with the cross-validated best penalty and scale, learned on all of ``data``; and the scores."""
    cv = cross_validate(data, FaceError(model))
    pen, scale = min(cv["ridge"], key=cv["ridge"].get)
    xm, w, ym = solve(I.features(data["descriptor"], data["coarse"], scale), data["truth"], pen)
    errors = {"ridge": cv["ridge"][(pen, scale)], "coarsenet": cv["coarsenet"], "mean face": cv["mean face"]}
    info = dict(meta or {}, renders=len(data["truth"]), penalty=pen, coarse_scale=scale, folds=FOLDS,
                cv_face_error_mm={k: round(v * 10, 4) for k, v in errors.items()})
    return I.IdentityRidge(xm, w, ym, scale, coarsenet_sha256, info), cv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", action="append", required=True, help="a synthetic set (repeatable)")
    ap.add_argument("--limit", type=int, help="use the first N renders of each set")
    ap.add_argument("--coarsenet", help="CoarseNet weights (default: the shipped ones)")
    ap.add_argument("--out", default=str(I.WEIGHTS))
    args = ap.parse_args(argv)
    coarsenet = args.coarsenet or regress.WEIGHTS
    data = load_features(args.train, args.limit, coarsenet)
    if len(data["truth"]) < 50:
        raise SystemExit(f"error: only {len(data['truth'])} renders with a face found; the ridge needs at least 50")
    model = load_face_model()
    ridge, cv = learn(data, model, I.file_sha256(coarsenet),
                      {"train": [str(Path(t)) for t in args.train], "limit": args.limit})
    for (pen, scale), v in sorted(cv["ridge"].items()):
        print(f"penalty {pen:4g}, CoarseNet scale {scale:4g}: {v * 10:.3f} mm")
    print(f"mean face {cv['mean face'] * 10:.3f} mm, CoarseNet alone {cv['coarsenet'] * 10:.3f} mm, chosen ridge "
          f"{ridge.meta['cv_face_error_mm']['ridge']:.3f} mm (penalty {ridge.meta['penalty']:g}, scale "
          f"{ridge.coarse_scale:g}; {len(data['truth'])} renders, mean over the face after a similarity alignment, "
          f"{FOLDS}-fold)")
    ridge.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
