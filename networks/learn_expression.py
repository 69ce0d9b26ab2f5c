"""Learn the expression calibration (``core.expression_calibration``): CoarseNet's expression -> the true one.

``python -m headforge.networks.learn_expression --train DATA [--train DATA2] [--limit N] [--skip M] --out core/weights/expression_calibration.npz``

1. CoarseNet's expression on every render where MediaPipe finds the face, cached beside the shards with the
   identity ridge's features (``networks.learn_identity.load_features``).
2. Per channel, pooled with its mirror channel (both get one line), the least-squares line from CoarseNet's
   weight to the true weight.
3. The threshold taken off every line is chosen by k-fold cross-validation on the training renders alone, by
   the mean absolute error of the weights (the error ``make bench-track`` reports, there over ARKit's channels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core import regress
from ..core.expression_calibration import WEIGHTS, ExpressionCalibration
from ..core.facemodel import load_face_model
from ..core.identity import file_sha256
from .learn_identity import FOLDS, load_features

#: thresholds tried by cross-validation
THRESHOLDS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15)


def lines(guess: np.ndarray, truth: np.ndarray, mirror: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel ``(gain, intercept)`` ``(53,)`` each: the least-squares line from ``guess`` ``(R, 53)`` to
    ``truth`` ``(R, 53)``, each channel's samples pooled with those of its ``mirror`` channel (``(53,)``, the
    face model's expression mirror). A channel whose truth never varies gets the line through its mean."""
    gain, intercept = np.zeros(guess.shape[1]), np.zeros(guess.shape[1])
    for j, m in enumerate(mirror):
        x, y = np.r_[guess[:, j], guess[:, m]], np.r_[truth[:, j], truth[:, m]]
        var = x.var()
        gain[j] = 0.0 if var < 1e-12 or y.var() < 1e-12 else np.mean((x - x.mean()) * (y - y.mean())) / var
        intercept[j] = y.mean() - gain[j] * x.mean()
    return gain, intercept


def cross_validate(guess: np.ndarray, truth: np.ndarray, mirror: np.ndarray, folds: int = FOLDS,
                   seed: int = 0) -> dict:
    """Mean absolute weight error of every threshold over ``folds`` folds, and of CoarseNet's own weights and of
    a neutral face's (all zero)."""
    fold = np.random.default_rng(seed).permutation(len(truth)) % folds
    scores = {}
    for thr in THRESHOLDS:
        pred = np.zeros_like(truth)
        for f in range(folds):
            tr, te = fold != f, fold == f
            gain, intercept = lines(guess[tr], truth[tr], mirror)
            pred[te] = np.clip(guess[te] * gain + intercept - thr, 0, 1)
        scores[thr] = float(np.abs(pred - truth).mean())
    return {"calibrated": scores, "coarsenet": float(np.abs(guess - truth).mean()),
            "neutral": float(np.abs(truth).mean())}


def learn(guess: np.ndarray, truth: np.ndarray, mirror: np.ndarray, coarsenet_sha256: str,
          meta: dict | None = None) -> tuple[ExpressionCalibration, dict]:
    """The calibration with the cross-validated best threshold, its lines learned on all renders; and the
    scores."""
    cv = cross_validate(guess, truth, mirror)
    thr = min(cv["calibrated"], key=cv["calibrated"].get)
    gain, intercept = lines(guess, truth, mirror)
    info = dict(meta or {}, renders=len(truth), threshold=thr, folds=FOLDS,
                cv_mean_abs_error={"calibrated": round(cv["calibrated"][thr], 5),
                                   "coarsenet": round(cv["coarsenet"], 5), "neutral": round(cv["neutral"], 5)})
    return ExpressionCalibration(gain, intercept - thr, coarsenet_sha256, info), cv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", action="append", required=True, help="a synthetic set (repeatable)")
    ap.add_argument("--limit", type=int, help="use the first N renders of each set")
    ap.add_argument("--skip", type=int, default=0,
                    help="leave out the first M of those (rounded down to whole shards): people a held-out set of "
                         "the same seed shows")
    ap.add_argument("--coarsenet", help="CoarseNet weights (default: the shipped ones)")
    ap.add_argument("--out", default=str(WEIGHTS))
    args = ap.parse_args(argv)
    coarsenet = args.coarsenet or regress.WEIGHTS
    data = load_features(args.train, args.limit, coarsenet, skip=args.skip)
    if len(data["truth"]) < 50:
        raise SystemExit(f"error: only {len(data['truth'])} renders with a face found; the calibration needs at "
                         "least 50")
    cal, cv = learn(data["coarse_expression"], data["truth_expression"], load_face_model().expression_mirror,
                    file_sha256(coarsenet), {"train": [str(Path(t)) for t in args.train], "limit": args.limit,
                                               "skip": args.skip})
    for thr, v in cv["calibrated"].items():
        print(f"threshold {thr:5.3f}: {v:.4f}")
    print(f"neutral face {cv['neutral']:.4f}, CoarseNet alone {cv['coarsenet']:.4f}, chosen threshold "
          f"{cal.meta['threshold']:g}: {cal.meta['cv_mean_abs_error']['calibrated']:.4f} (mean absolute weight error, "
          f"{len(data['truth'])} renders, {FOLDS}-fold)")
    cal.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
