"""The person's identity from a face-recognition descriptor beside CoarseNet's guess.

CoarseNet learns identity from the pixels of synthetic renders only, and on real photos its guesses move with
the photo: the three pictures of one woman gave neutral faces 3.4 mm apart. A face-recognition network learned
what stays one person across millions of real photos (Digital Twin and MICA regress shape from such features);
dlib's descriptor (``core.descriptor``) is one whose weights may ship. A ridge regression from the descriptor
and CoarseNet's identity to the true identity, learned on synthetic renders
(``networks/learn_identity.py``), gives the fit's first guess and the centre of its identity prior.

The learned file (``core/weights/identity_ridge.npz``, 95 KB) names the CoarseNet it was learned beside (a
hash of its weights): with another CoarseNet, or without dlib, the guess is CoarseNet's alone, with a
warning.

>>> identity = refine(face_descriptor(image, points), coarsenet_prediction.identity, regress.WEIGHTS)
"""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DescriptorUnavailable
from .fileio import read_once, save_npz

if TYPE_CHECKING:
    from .facemodel import FaceModel

WEIGHTS = Path(__file__).resolve().parent / "weights" / "identity_ridge.npz"
N_DESCRIPTOR, N_ID = 128, 100


@dataclass(frozen=True)
class IdentityRidge:
    """identity ``(100,)`` = ``(x - x_mean) @ weights + identity_mean`` with ``x`` the descriptor ``(128,)`` and
    CoarseNet's identity times ``coarse_scale`` ``(100,)`` side by side."""

    x_mean: np.ndarray          #: (228,) float64
    weights: np.ndarray         #: (228, 100) (float32 as saved)
    identity_mean: np.ndarray   #: (100,) float64
    coarse_scale: float         #: CoarseNet's identity is scaled by this before the ridge (its share of the penalty)
    coarsenet_sha256: str       #: the CoarseNet weights whose guesses it was learned with
    meta: dict = field(default_factory=dict)   #: how it was learned (set, count, penalty, cross-validated error)

    def predict(self, descriptor: np.ndarray, coarse_identity: np.ndarray) -> np.ndarray:
        """Identity coefficients ``(..., 100)`` float64 from descriptors ``(..., 128)`` and CoarseNet's identities
        ``(..., 100)`` of the same faces."""
        return (features(descriptor, coarse_identity, self.coarse_scale) - self.x_mean) @ self.weights \
            + self.identity_mean

    def matches(self, coarsenet_path: str | Path) -> bool:
        """Whether it was learned beside the CoarseNet at ``coarsenet_path``."""
        return file_sha256(coarsenet_path) == self.coarsenet_sha256

    def save(self, path: str | Path) -> Path:
        import json

        return save_npz(path, x_mean=self.x_mean, weights=self.weights.astype(np.float32),
                        identity_mean=self.identity_mean,
                        coarse_scale=np.float64(self.coarse_scale), coarsenet_sha256=np.str_(self.coarsenet_sha256),
                        meta=np.str_(json.dumps(self.meta)))

    @classmethod
    def read(cls, path: str | Path) -> "IdentityRidge":
        """Raises ``OSError``/``ValueError``/``KeyError`` for a missing or damaged file."""
        import json

        with np.load(path, allow_pickle=False) as z:
            r = cls(x_mean=z["x_mean"], weights=z["weights"], identity_mean=z["identity_mean"],
                    coarse_scale=float(z["coarse_scale"]), coarsenet_sha256=str(z["coarsenet_sha256"]),
                    meta=json.loads(str(z["meta"])))
        n = N_DESCRIPTOR + N_ID
        if r.x_mean.shape != (n,) or r.weights.shape != (n, N_ID) or r.identity_mean.shape != (N_ID,):
            raise ValueError(f"identity ridge arrays have shapes {r.x_mean.shape}, {r.weights.shape}, "
                             f"{r.identity_mean.shape}; expected ({n},), ({n}, {N_ID}), ({N_ID},)")
        return r


def features(descriptor: np.ndarray, coarse_identity: np.ndarray, coarse_scale: float) -> np.ndarray:
    """Descriptors ``(..., 128)`` and CoarseNet identities ``(..., 100)`` -> ``(..., 228)`` float64."""
    return np.concatenate([np.asarray(descriptor, np.float64),
                           np.asarray(coarse_identity, np.float64) * coarse_scale], axis=-1)


_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _sha(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (hex), remembered while the file keeps its size and time."""
    st = Path(path).stat()
    with _lock:
        return _sha(str(path), st.st_size, st.st_mtime_ns)


def learned_beside(read, path: str | Path, coarsenet_path: str | Path, error: type, what: str, target: str):
    """``read(path)``: something learned beside CoarseNet's guesses (it has a ``coarsenet_sha256``), when it can be
    read and belongs to the CoarseNet at ``coarsenet_path``; else ``error`` (a HeadforgeError class) saying that
    the ``what`` (e.g. "identity ridge") should be learned again with ``make target``."""
    try:
        learned = read(path)
    except (OSError, ValueError, KeyError) as e:
        raise error(f"The {what} {str(path)!r} cannot be read ({type(e).__name__}); reinstall Headforge or learn it "
                    f"again with `make {target}`.") from None
    if file_sha256(coarsenet_path) != learned.coarsenet_sha256:
        raise error(f"The {what} {str(path)!r} was learned beside another CoarseNet than {str(coarsenet_path)!r}; "
                    f"learn it again with `make {target}`.")
    return learned


def load(path: str | Path | None = None) -> IdentityRidge:
    """The learned ridge at ``path`` (default :data:`WEIGHTS`), read once per process. Raises
    ``OSError``/``ValueError``/``KeyError`` for a missing or damaged file."""
    return read_once(IdentityRidge.read, path or WEIGHTS)


def refine(descriptor: np.ndarray, coarse_identity: np.ndarray, coarsenet_path: str | Path,
           path: str | Path | None = None, model: FaceModel | None = None) -> np.ndarray:
    """The identity guess ``(100,)`` of a face whose descriptor (``core.descriptor.face_descriptor``) is
    ``descriptor`` ``(128,)`` and whose CoarseNet identity (from the weights at ``coarsenet_path``) is
    ``coarse_identity`` ``(100,)``. Raises :class:`~headforge.core.errors.DescriptorUnavailable` when the ridge
    cannot be used (its message says why and what to do).

    The guess is made mirror-consistent: the ridge's answer averaged with the mirror image of its answer for the
    mirrored face (``model``'s identity mirror; the default face model when None). A face-recognition descriptor
    hardly changes when a photo is mirrored, so the ridge alone gave a face and its mirror image nearly the
    same identity where they need mirrored ones: on the 13 real photos a mirrored copy's guess was 0.40-0.81 mm
    from the photo's mirrored back; on 365 held-out version-6 renders the averaged guess is as near the truth
    (2.686 against 2.693 mm)."""
    ridge = learned_beside(load, path or WEIGHTS, coarsenet_path, DescriptorUnavailable, "identity ridge",
                           "train-identity")
    if model is None:
        from .facemodel import load_face_model

        model = load_face_model()
    mirror = model.identity_mirror
    return 0.5 * (ridge.predict(descriptor, coarse_identity)
                  + mirror @ ridge.predict(descriptor, mirror @ np.asarray(coarse_identity, np.float64)))
