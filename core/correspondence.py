"""Where MediaPipe's 478 face-mesh landmarks lie on the ICT-FaceKit surface.

MediaPipe's canonical face (``canonical_face_model.obj``, same axes and units as ICT: cm, +Y up, +Z
forward) is registered to the ICT neutral face once:

1. similarity alignment on anchor points whose meaning is the same in both meshes (eye corners, brows,
   nose, mouth, chin);
2. a thin-plate-spline warp through the same anchors, so the two mean faces agree where they differ in
   shape (nose length, lip thickness);
3. each warped MediaPipe vertex is projected onto the closest point of the ICT skin surface and kept as
   (triangle, barycentric coordinates);
4. refinement: ICT identity coefficients and a similarity transform are fitted to the canonical points
   in 3D, the points are re-projected onto that identity's surface, and this repeats. MediaPipe's
   canonical face is a neutral face, so it then corresponds to ICT at zero expression.

The reverse is stored too: each of the 68 ICT landmark vertices as barycentric coordinates on the
MediaPipe mesh, which turns 478 detected points into iBUG-68 "detected" landmarks at exactly the places
the model's 68 landmark vertices stand for. The jawline (iBUG 0-16) maps to positions along MediaPipe's
face-oval polyline instead, because contour landmarks have no fixed surface point.

Where the project ships a learned correspondence (:data:`LEARNED`, made by
``networks/learn_correspondence.py`` from synthetic renders: each point moved to where MediaPipe really puts
it on an ICT head), it replaces the fixed points of steps 1-4; without it, the geometric registration is
used.

The result is a few kilobytes, cached in the user cache directory.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import config
from .errors import FaceModelError
from .facemodel import FACE_END, FaceModel
from .fileio import save_npz

CACHE_VERSION = 3
#: the learned correspondence (see ``networks/learn_correspondence.py``); used when it exists
LEARNED = Path(__file__).resolve().parent / "weights" / "landmark_correspondence.npz"
REFINE_ITERATIONS = 3
REFINE_PRIOR = 0.05  # identity prior (cm^2 per std^2) while registering the canonical face
N_MEDIAPIPE = 478

#: (MediaPipe index, iBUG-68 index) pairs with the same meaning in both conventions.
ANCHORS = np.array([
    (70, 17), (105, 19), (107, 21), (336, 22), (334, 24), (300, 26),
    (168, 27), (4, 30), (2, 33),
    (33, 36), (160, 37), (158, 38), (133, 39), (153, 40), (144, 41),
    (362, 42), (385, 43), (387, 44), (263, 45), (373, 46), (380, 47),
    (61, 48), (37, 50), (0, 51), (267, 52), (291, 54), (314, 56), (17, 57), (84, 58),
    (78, 60), (13, 62), (308, 64), (14, 66),
    (152, 8),
], dtype=np.int32)

#: MediaPipe's face oval from the person's right ear, under the chin, to the left ear.
JAW_OVAL = np.array([127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365,
                     397, 288, 361, 323, 454, 356], dtype=np.int32)

#: MediaPipe's eyebrow points (the person's right brow, then the left)
BROWS = np.array([70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276],
                 dtype=np.int32)

#: MediaPipe points not used as fixed correspondences: the jaw oval (handled as a sliding contour) and
#: the 10 iris points (gaze is not part of the shape fit).
EXCLUDED = np.unique(np.concatenate([JAW_OVAL, np.arange(468, 478)]))

_lock = threading.Lock()
_loaded: dict[str, "Correspondence"] = {}


@dataclass(frozen=True)
class Correspondence:
    """MediaPipe <-> ICT correspondence (plain arrays)."""

    mp_index: np.ndarray       #: (K,) MediaPipe landmark indices used as fixed correspondences
    ict_vertices: np.ndarray   #: (K, 3) ICT vertex ids of the triangle each lies on
    ict_bary: np.ndarray       #: (K, 3) float32 barycentric weights
    lm68_mp_tris: np.ndarray   #: (68, 3) MediaPipe vertex ids around each ICT 68-landmark (17..67 valid)
    lm68_mp_bary: np.ndarray   #: (68, 3) float32
    jaw_t: np.ndarray          #: (17,) float32 arc-length position (0..1) of iBUG 0..16 on JAW_OVAL

    def detected_68(self, points: np.ndarray) -> np.ndarray:
        """Map 478 detected points ``(478, 2)`` to the 68 iBUG landmarks ``(68, 2)`` (same units)."""
        pts = np.asarray(points, np.float64)
        out = np.einsum("kj,kjd->kd", self.lm68_mp_bary, pts[self.lm68_mp_tris])
        out[:17] = polyline_at(pts[JAW_OVAL], self.jaw_t)
        return out.astype(np.float32)


def polyline_at(poly: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at arc-length fractions ``t`` (0..1) along a polyline ``(M, D)``."""
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    s /= s[-1]
    return np.stack([np.interp(t, s, poly[:, d]) for d in range(poly.shape[1])], axis=1)


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    v, f = [], []
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            v.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("f "):
            f.append([int(c.split("/")[0]) - 1 for c in line.split()[1:]])
    return np.asarray(v, np.float64), np.asarray(f, np.int64)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: s, R, t minimising |s R src + t - dst|."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    D = np.diag([1.0, 1.0, d])
    R = u @ D @ vt
    s = float((sig * np.diag(D)).sum() / (a ** 2).sum())
    return s, R, md - s * R @ ms


def aligned_distance(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean distance between two ``(V, 3)`` point sets after the similarity (Umeyama) that best aligns
    ``pred`` to ``true``; in their units."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    s, R, t = _similarity(pred, true)
    return float(np.linalg.norm(pred @ (s * R).T + t - true, axis=1).mean())


def _tps(src: np.ndarray, dst: np.ndarray, pts: np.ndarray, smooth: float = 0.05) -> np.ndarray:
    """Thin-plate spline (3D kernel |r|) through src->dst, applied to pts."""
    n = len(src)
    K = np.linalg.norm(src[:, None] - src[None], axis=2) + smooth * np.eye(n)
    P = np.hstack([np.ones((n, 1)), src])
    A = np.zeros((n + 4, n + 4))
    A[:n, :n], A[:n, n:], A[n:, :n] = K, P, P.T
    rhs = np.zeros((n + 4, 3))
    rhs[:n] = dst
    w = np.linalg.solve(A, rhs)
    Kp = np.linalg.norm(pts[:, None] - src[None], axis=2)
    return Kp @ w[:n] + np.hstack([np.ones((len(pts), 1)), pts]) @ w[n:]


def closest_points_on_triangles(points: np.ndarray, verts: np.ndarray, tris: np.ndarray, k: int = 24):
    """For each point, the closest point on the mesh ``(verts, tris)``: (triangle index, barycentric).

    Searches the triangles around the ``k`` nearest triangle centroids (exact for reasonable meshes).
    """
    from scipy.spatial import cKDTree

    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    _, cand = cKDTree((a + b + c) / 3).query(points, k=k)
    best_t = np.zeros(len(points), np.int64)
    best_w = np.zeros((len(points), 3))
    best_d = np.full(len(points), np.inf)
    for j in range(k):
        t = cand[:, j]
        w = _closest_bary(points, a[t], b[t], c[t])
        q = w[:, :1] * a[t] + w[:, 1:2] * b[t] + w[:, 2:] * c[t]
        d = np.linalg.norm(points - q, axis=1)
        better = d < best_d
        best_d[better], best_t[better], best_w[better] = d[better], t[better], w[better]
    return best_t, best_w, best_d


def _closest_bary(p, a, b, c):
    """Barycentric coordinates of the closest point on triangle abc to p (vectorised; Ericson 5.1.5)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = p - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = p - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    den = np.where(np.abs(va + vb + vc) < 1e-20, 1e-20, va + vb + vc)
    v, w = vb / den, vc / den
    out = np.stack([1 - v - w, v, w], 1)

    def setw(mask, wa, wb, wc):
        out[mask] = np.stack([wa[mask], wb[mask], wc[mask]], 1)

    one, zero = np.ones_like(d1), np.zeros_like(d1)
    # edge regions (checked before vertex regions so the vertex cases win)
    m = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    t = d2 / np.where(d2 - d6 == 0, 1, d2 - d6)
    setw(m, 1 - t, zero, t)
    m = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    t = (d4 - d3) / np.where((d4 - d3) + (d5 - d6) == 0, 1, (d4 - d3) + (d5 - d6))
    setw(m, zero, 1 - t, t)
    m = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    t = d1 / np.where(d1 - d3 == 0, 1, d1 - d3)
    setw(m, 1 - t, t, zero)
    setw((d6 >= 0) & (d5 <= d6), zero, zero, one)
    setw((d3 >= 0) & (d4 <= d3), zero, one, zero)
    setw((d1 <= 0) & (d2 <= 0), one, zero, zero)
    return out


def build_correspondence(model: FaceModel, mp_obj: Path) -> Correspondence:
    """Register MediaPipe's canonical face (with iris, 478 vertices) to the ICT neutral face."""
    mp_v, mp_f = _read_obj(mp_obj)
    if len(mp_v) < 468:
        raise FaceModelError(f"{str(mp_obj)!r} has {len(mp_v)} vertices; MediaPipe's canonical face has 468.")
    if len(mp_v) < N_MEDIAPIPE:  # the model without iris: place iris points at the eye centres
        mp_v = np.vstack([mp_v, np.repeat(mp_v[[33, 133]].mean(0, keepdims=True), 5, 0),
                          np.repeat(mp_v[[362, 263]].mean(0, keepdims=True), 5, 0)])
    ict = model.neutral.astype(np.float64)
    src = mp_v[ANCHORS[:, 0]]
    dst = ict[model.landmarks68[ANCHORS[:, 1]]]
    s, R, t = _similarity(src, dst)
    aligned = mp_v @ (s * R).T + t
    warped = _tps(aligned[ANCHORS[:, 0]], dst, aligned)

    # MediaPipe points on the ICT face skin (face region triangles)
    tri = model.triangles
    face_tris = tri[(tri < FACE_END).all(1)]
    keep = np.setdiff1d(np.arange(N_MEDIAPIPE), EXCLUDED)
    ti, w, _ = closest_points_on_triangles(warped[keep], ict, face_tris)

    # Refinement: MediaPipe's canonical face is a neutral face, so it should correspond to ICT with some
    # identity and *no* expression. Fit identity + similarity to the canonical points in 3D, re-project
    # them onto that identity's surface, repeat. Without this, fitting MediaPipe's own canonical face
    # activated eye and brow expressions (sum of weights 5.8).
    target = mp_v[keep]
    shape = ict
    for _ in range(REFINE_ITERATIONS):
        tv = face_tris[ti]
        Bk = model.basis_rows(tv.ravel())[:, :, :100].astype(np.float64).reshape(len(tv), 3, 3, 100)
        Bk = (Bk * w[:, :, None, None]).sum(1)                                  # (K, 3, 100)
        M0 = (ict[tv] * w[:, :, None]).sum(1)                                   # (K, 3)
        alpha = np.zeros(100)
        for _ in range(4):
            P = M0 + Bk @ alpha
            s_, R_, t_ = _similarity(P, target)
            # identity given the similarity: min |s R (M0 + B a) + t - target|^2 + lam |a|^2
            local = ((target - t_) @ R_) / s_ - M0                              # target in model frame
            A = Bk.reshape(-1, 100)
            alpha = np.linalg.solve(A.T @ A + REFINE_PRIOR * np.eye(100), A.T @ local.ravel())
        shape = model.vertices(identity=alpha).astype(np.float64)
        in_model = ((mp_v - t_) @ R_) / s_                                      # all MediaPipe points
        ti, w, _ = closest_points_on_triangles(in_model[keep], shape, face_tris)
        warped = in_model

    # ICT 68 landmarks on the (registered) MediaPipe surface
    mp_tris = mp_f[(mp_f < 468).all(1)]
    lm = shape[model.landmarks68]
    tj, wj, _ = closest_points_on_triangles(lm, warped, mp_tris, k=12)

    # jaw: arc-length position of the ICT jaw landmarks along the oval (in the frontal x-y plane)
    oval = warped[JAW_OVAL][:, :2]
    fine = np.linspace(0, 1, 2001)
    curve = polyline_at(oval, fine)
    jaw_t = np.array([fine[np.argmin(np.linalg.norm(curve - p[:2], axis=1))] for p in lm[:17]])
    return Correspondence(mp_index=keep.astype(np.int32), ict_vertices=face_tris[ti].astype(np.int32),
                          ict_bary=w.astype(np.float32), lm68_mp_tris=mp_tris[tj].astype(np.int32),
                          lm68_mp_bary=wj.astype(np.float32), jaw_t=jaw_t.astype(np.float32))


def apply_learned(corr: Correspondence, learned: Path) -> Correspondence:
    """``corr`` with the fixed points of a learned correspondence file (unchanged when the file is for
    other MediaPipe points)."""
    with np.load(learned) as z:
        if not np.array_equal(z["mp_index"], corr.mp_index):
            return corr
        return replace(corr, ict_vertices=z["ict_vertices"].astype(np.int32),
                       ict_bary=z["ict_bary"].astype(np.float32))


def load_correspondence(model: FaceModel, mp_obj: str | Path | None = None,
                        learned: str | Path | None = LEARNED) -> Correspondence:
    """The cached correspondence for ``model`` (built on first use from MediaPipe's canonical mesh), with
    the ``learned`` correction applied when that file exists (None: the geometric one alone)."""
    path = Path(mp_obj) if mp_obj else config.mediapipe_mesh_path()
    learned = Path(learned) if learned and Path(learned).exists() else None
    stamp = hashlib.sha1(learned.read_bytes()).hexdigest()[:12] if learned else "geometric"
    key_src = f"{model.source}|{CACHE_VERSION}|{path}|{stamp}"
    with _lock:
        if key_src in _loaded:
            return _loaded[key_src]
        digest = hashlib.sha1(key_src.encode()).hexdigest()[:16]
        cache_file = config.cache_dir() / f"mp-correspondence-{digest}.npz"
        corr = None
        if cache_file.exists():
            try:
                with np.load(cache_file) as z:
                    corr = Correspondence(**{k: z[k] for k in z.files})
            except Exception:
                cache_file.unlink(missing_ok=True)
        if corr is None:
            if path is None or not path.exists():
                raise FaceModelError(
                    "MediaPipe's canonical face mesh is needed once to place the landmarks on the face model. "
                    f"Set {config.MEDIAPIPE_MESH_ENV} to canonical_face_model.obj or face_model_with_iris.obj "
                    "(google-ai-edge/mediapipe, mediapipe/modules/face_geometry/data/).")
            corr = build_correspondence(model, path)
            if learned:
                corr = apply_learned(corr, learned)
            try:
                save_npz(cache_file, **{k: getattr(corr, k) for k in Correspondence.__dataclass_fields__})
            except OSError:
                pass
        _loaded[key_src] = corr
        return corr
