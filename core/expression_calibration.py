"""How far to trust CoarseNet's expression: a per-channel calibration learned on synthetic renders.

CoarseNet's 53 expression weights carry the photo's strong expressions (its smiles follow the truth with a
correlation of 0.7 on held-out renders) but spread small weights over every channel: on 275 held-out version-6
renders their mean absolute error over Apple's 52 ARKit channels was 0.034, twice a neutral face's 0.016, and the
fit, whose expression prior is centred on the guess, kept most of it (0.024). Each channel's weight is therefore
mapped by a line learned on renders (``networks/learn_expression.py``), less a threshold below which a guess is
taken for noise: ``clip(gain * w + offset, 0, 1)``; the fit's error is then 0.016. Mirror pairs (``eyeBlink_L`` /
``eyeBlink_R``) share one line, so a mirrored photo still gets the mirrored expression.

The learned file (``core/weights/expression_calibration.npz``) names the CoarseNet it was learned beside (a hash
of its weights, as the identity ridge does): with another CoarseNet the guess is CoarseNet's own, with a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CalibrationUnavailable
from .fileio import read_once, save_npz
from .identity import learned_beside

WEIGHTS = Path(__file__).resolve().parent / "weights" / "expression_calibration.npz"
N_EX = 53


@dataclass(frozen=True)
class ExpressionCalibration:
    """``clip(gain * w + offset, 0, 1)`` per channel of CoarseNet's expression ``w`` ``(53,)``."""

    gain: np.ndarray            #: (53,) float64
    offset: np.ndarray          #: (53,) float64: the line's intercept less the threshold
    coarsenet_sha256: str       #: the CoarseNet weights whose guesses it was learned with
    meta: dict = field(default_factory=dict)   #: how it was learned (sets, renders, threshold, errors)

    def apply(self, expression: np.ndarray) -> np.ndarray:
        """Calibrated weights ``(..., 53)`` in [0, 1] of CoarseNet's ``(..., 53)``."""
        return np.clip(np.asarray(expression, np.float64) * self.gain + self.offset, 0.0, 1.0)

    def save(self, path: str | Path) -> Path:
        return save_npz(path, gain=self.gain, offset=self.offset, coarsenet_sha256=np.str_(self.coarsenet_sha256),
                        meta=np.str_(json.dumps(self.meta)))

    @classmethod
    def read(cls, path: str | Path) -> "ExpressionCalibration":
        """Raises ``OSError``/``ValueError``/``KeyError`` for a missing or damaged file."""
        with np.load(path, allow_pickle=False) as z:
            c = cls(gain=z["gain"].astype(np.float64), offset=z["offset"].astype(np.float64),
                    coarsenet_sha256=str(z["coarsenet_sha256"]), meta=json.loads(str(z["meta"])))
        if c.gain.shape != (N_EX,) or c.offset.shape != (N_EX,):
            raise ValueError(f"expression calibration arrays have shapes {c.gain.shape}, {c.offset.shape}; "
                             f"expected ({N_EX},)")
        return c


def load(path: str | Path | None = None) -> ExpressionCalibration:
    """The calibration at ``path`` (default :data:`WEIGHTS`), read once per process. Raises
    ``OSError``/``ValueError``/``KeyError`` for a missing or damaged file."""
    return read_once(ExpressionCalibration.read, path or WEIGHTS)


def calibrate(expression: np.ndarray, coarsenet_path: str | Path, path: str | Path | None = None) -> np.ndarray:
    """CoarseNet's expression ``(53,)`` (from the weights at ``coarsenet_path``) calibrated. Raises
    :class:`CalibrationUnavailable` when the calibration cannot be used (its message says why and what to do)."""
    cal = learned_beside(load, path or WEIGHTS, coarsenet_path, CalibrationUnavailable, "expression calibration",
                         "train-expression")
    return cal.apply(expression)
