"""Non-rigid fit of the face model to detected landmarks (Digital Twin, section 3.4).

Gauss-Newton over focal scale ``f_s``, head rotation and translation, identity coefficients (prior
N(0, 1): ICT modes are one standard deviation), expression weights (bounded to [0, 1], prior towards 0),
then a per-vertex corrective field dP over the skin with the paper's regulariser: the Laplacian of the
deformed mesh kept close to that of the undeformed one (``|L dP|^2``, L linear) plus ``lambda_d |dP|^2``.

Landmark residuals are measured in percent of the detected outer-eye distance (x 100 / W_eye). Jawline
landmarks slide: every iteration each contour landmark is matched to the silhouette vertex of the current
mesh nearest to it. The three at the chin (``CHIN_FIXED``) keep fixed vertices: seen from the front the
chin's lower edge is often no silhouette of the mesh, and sliding matched them to a vertex up to 2 cm away.

The seam for a learned initialiser: :func:`fit_landmarks` takes an :class:`InitialGuess` (identity,
expression, optional pose) and returns a :class:`Fit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .camera import Camera, rodrigues
from .correspondence import Correspondence
from .errors import Cancelled, FitFailed
from .facemodel import JAW_CANDIDATES_LEFT, JAW_CANDIDATES_RIGHT, N_IDENTITY, FaceModel

#: focal length guess in pixels = FOCAL_FACTOR * max(width, height) (about a 50 mm lens on full frame)
FOCAL_FACTOR = 1.4
SKIN_END = 11248  # vertices 0..11247: face, head and neck
#: jawline landmarks (of the 17) that keep their fixed vertex instead of sliding along the silhouette. In a
#: frontal view the chin's lower edge is rarely a silhouette edge of the mesh, so the nearest silhouette
#: vertex to the chin tip was often the one already taken by its neighbour, 1-2 cm away; the fit and the
#: corrective field then stretched the chin towards it (real photos, prior strength 3-10: 1.1-1.8 cm bumps).
CHIN_FIXED = (7, 8, 9)


@dataclass
class FitWeights:
    """Energy weights. Defaults start from the paper (w_c=25, w_r=10, lambda_d=4, lambda_f=5,
    lambda_q=5, 5 iterations) and were tuned on real photos (see the README)."""

    landmarks: float = 25.0       #: w_c, landmark correspondence weight
    contour: float = 25.0         #: weight of the sliding jawline landmarks
    laplacian: float = 1e4        #: w_r, |L dP|^2 (paper: 10; ours has residuals in % of eye distance)
    corrective: float = 100.0     #: lambda_d, |dP|^2 in cm^2 (paper: 4)
    focal: float = 5.0            #: lambda_f, (f_s - 1)^2 in percent units
    identity: float = 300.0       #: lambda_q for |alpha|^2 (paper: 5): keeps coefficients within ~3 std
    expression: float = 3000.0    #: lambda_q for |beta|^2 (paper: 5): weaker lets eyeWide/eyeLookUp saturate
    iterations: int = 5           #: outer iterations (contour re-picking + Gauss-Newton)
    gn_steps: int = 2             #: Gauss-Newton steps per outer iteration
    corrective_field: bool = True


@dataclass
class InitialGuess:
    """Where the fit starts: the mean face by default, or a regressor's prediction."""

    identity: np.ndarray | None = None     #: (100,)
    expression: np.ndarray | None = None   #: (53,) in [0, 1]
    rotation: np.ndarray | None = None     #: (3, 3) model -> camera; None: solve PnP
    translation: np.ndarray | None = None  #: (3,) cm
    focal_scale: float = 1.0
    #: centre the identity prior on ``identity`` instead of the mean face (a regressor's prediction is
    #: then a prior, not only a starting point: a least-squares fit from any start ends in the same place)
    identity_prior_mean: bool = False
    #: with ``identity_prior_mean``: the expression prior is centred on ``expression`` too, and both priors
    #: are this many times stronger than the defaults (a regressor measured better than the landmarks at
    #: shape should hold the fit near it; see ``core.regress.initial_guess``)
    prior_strength: float = 1.0


@dataclass
class Fit:
    camera: Camera
    identity: np.ndarray          #: (100,) float32
    expression: np.ndarray        #: (53,) float32 in [0, 1]
    corrective: np.ndarray        #: (N, 3) float32 cm, model space (zero off the skin)
    vertices: np.ndarray          #: (N, 3) float32 cm, fitted, model space
    contour_vertices: np.ndarray  #: (17,) int32 vertex chosen for each jawline landmark
    landmark_error: float         #: mean 2D error of the fixed correspondences, % of eye distance
    iterations: int
    history: list = field(default_factory=list)  #: mean error (%) after each outer iteration


# -------------------------------------------------------------------------------------------------
# cached topology helpers


_TOPO: dict[int, dict] = {}


def _topology(model: FaceModel) -> dict:
    key = id(model)
    if key in _TOPO:
        return _TOPO[key]
    A = model.vertex_neighbors
    # jaw pool: candidates and their 3-ring on the skin
    seeds = np.concatenate([JAW_CANDIDATES_RIGHT, JAW_CANDIDATES_LEFT])
    mask = np.zeros(model.n_vertices, bool)
    mask[seeds] = True
    for _ in range(4):
        mask = mask | (A @ mask.astype(np.float32) > 0)
    mask[SKIN_END:] = False
    tris = model.triangles
    pool_tris = tris[mask[tris].all(1)]
    # edges shared by two pool triangles
    e = np.concatenate([pool_tris[:, [0, 1]], pool_tris[:, [1, 2]], pool_tris[:, [2, 0]]])
    tri_of = np.tile(np.arange(len(pool_tris)), 3)
    e_sorted = np.sort(e, 1)
    order = np.lexsort((e_sorted[:, 1], e_sorted[:, 0]))
    es, ts = e_sorted[order], tri_of[order]
    same = (es[1:] == es[:-1]).all(1)
    pairs_e = es[:-1][same]
    pairs_t = np.stack([ts[:-1][same], ts[1:][same]], 1)
    pool_v = np.unique(pool_tris)
    # skin Laplacian (uniform weights) for the corrective field
    n = SKIN_END
    As = A[:n, :n].tocsr()
    deg = np.asarray(As.sum(1)).ravel()
    L = sp.eye(n, format="csr") - sp.diags(1.0 / np.maximum(deg, 1)) @ As
    # the non-skin parts that must follow the skin (eyelashes, eye occlusion/blend, lacrimal fluid,
    # eyeballs): nearest skin vertex in the neutral
    from scipy.spatial import cKDTree

    follow = np.arange(SKIN_END, model.n_vertices)
    _, nearest = cKDTree(model.neutral[:SKIN_END]).query(model.neutral[follow])
    topo = dict(pool_v=pool_v, pool_tris=pool_tris, edge_pairs=pairs_e, edge_tris=pairs_t, L=L.tocsr(),
                follow=follow, follow_src=nearest.astype(np.int32), side_x=model.neutral[:, 0])
    _TOPO[key] = topo
    return topo


# -------------------------------------------------------------------------------------------------


def initial_camera(width: int, height: int, focal_scale: float = 1.0) -> tuple[float, float, float]:
    f = FOCAL_FACTOR * max(width, height) * focal_scale
    return f, width / 2.0, height / 2.0


def _project(Y, f, cx, cy):
    z = Y[:, 2]
    return np.stack([f * Y[:, 0] / z + cx, f * Y[:, 1] / z + cy], 1)


def _silhouette_picks(model, topo, verts, R, t, f, cx, cy, contour_pts, fallback):
    """For each of the 17 contour landmarks, the silhouette vertex nearest to it in the image (the
    ``CHIN_FIXED`` ones keep ``fallback``)."""
    Y = verts @ R.T + t
    pt = topo["pool_tris"]
    a, b, c = Y[pt[:, 0]], Y[pt[:, 1]], Y[pt[:, 2]]
    nrm = np.cross(b - a, c - a)
    facing = (nrm * (-(a + b + c) / 3)).sum(1) > 0
    et = topo["edge_tris"]
    sil_edges = topo["edge_pairs"][facing[et[:, 0]] != facing[et[:, 1]]]
    sil = np.unique(sil_edges)
    picks = fallback.copy()
    if sil.size == 0:
        return picks
    uv = _project(Y[sil], f, cx, cy)
    x = topo["side_x"][sil]
    for k in range(17):
        if k in CHIN_FIXED:
            continue
        ok = (x <= 0.5) if k < 8 else (x >= -0.5) if k > 8 else np.ones_like(x, bool)
        if not ok.any():
            continue
        d = np.linalg.norm(uv[ok] - contour_pts[k], axis=1)
        j = np.argmin(d)
        picks[k] = sil[ok][j]
    return picks


def fit_landmarks(model: FaceModel, corr: Correspondence, points: np.ndarray, image_size: tuple[int, int],
                  init: InitialGuess | None = None, weights: FitWeights | None = None,
                  should_stop=None) -> Fit:
    """Fit the model to MediaPipe landmarks ``points`` ``(478, 2)`` (pixels) of an image
    ``image_size = (width, height)``. ``should_stop()`` is polled between iterations (raise
    :class:`Cancelled` when it returns True)."""
    init = init or InitialGuess()
    wts = weights or FitWeights()
    W, H = image_size
    topo = _topology(model)
    nid, nex = N_IDENTITY, model.n_expression
    nc = nid + nex
    pts = np.asarray(points, np.float64)
    lm_fixed = pts[corr.mp_index]
    contour_pts = corr.detected_68(pts)[:17].astype(np.float64)
    eye_px = float(np.linalg.norm(pts[33] - pts[263]))
    if not np.isfinite(pts).all() or eye_px < 1:
        raise FitFailed("The landmarks are degenerate (eyes at the same place). Use a clearer photo of the face.")
    sn = 100.0 / eye_px  # pixels -> percent of eye distance

    # fixed correspondences: mean and basis at the landmark points (bary-weighted)
    bv, bw = corr.ict_vertices, corr.ict_bary.astype(np.float64)
    flat = bv.ravel()
    M0 = (model.neutral[flat].reshape(-1, 3, 3).astype(np.float64) * bw[:, :, None]).sum(1)
    Bf = model.basis_rows(flat).astype(np.float64).reshape(len(bv), 3, 3, nc)
    B0 = (Bf * bw[:, :, None, None]).sum(1)  # (K, 3, nc)

    c = np.zeros(nc)
    if init.identity is not None:
        c[:nid] = np.asarray(init.identity, float)[:nid]
    id_mean = c[:nid].copy() if init.identity_prior_mean else np.zeros(nid)
    if init.expression is not None:
        c[nid:] = np.clip(np.asarray(init.expression, float), 0, 1)
    ex_mean = c[nid:].copy() if init.identity_prior_mean else np.zeros(nex)
    prior_scale = float(init.prior_strength) if init.identity_prior_mean else 1.0
    f0, cx, cy = initial_camera(W, H)
    log_fs = float(np.log(max(init.focal_scale, 1e-3)))

    def model_pts(cvec):
        return M0 + B0 @ cvec

    # pose initialisation: EPnP on the fixed correspondences
    if init.rotation is None or init.translation is None:
        K = np.array([[f0 * np.exp(log_fs), 0, cx], [0, f0 * np.exp(log_fs), cy], [0, 0, 1]])
        ok, rvec, tvec = cv2.solvePnP(model_pts(c).astype(np.float64), lm_fixed, K, None,
                                      flags=cv2.SOLVEPNP_EPNP)
        if not ok:
            raise FitFailed("Could not find the head pose from the landmarks. Use a photo where the face is "
                            "clearly visible and not strongly distorted.")
        R = cv2.Rodrigues(rvec)[0]
        t = tvec.ravel().astype(float)
        if t[2] <= 0:  # behind the camera: flip
            R, t = -R, -t
    else:
        R, t = np.asarray(init.rotation, float), np.asarray(init.translation, float)

    contour_fallback = model.landmarks68[:17].astype(np.int32).copy()
    picks = contour_fallback.copy()
    lb = np.full(7 + nc, -np.inf)
    ub = np.full(7 + nc, np.inf)
    history = []

    def residuals(cvec, R, t, log_fs, picks, with_jac=True):
        f = f0 * np.exp(log_fs)
        Pf = model_pts(cvec)
        Bc = model.basis_rows(picks).astype(np.float64)
        Pc = model.neutral[picks].astype(np.float64) + Bc @ cvec
        P = np.vstack([Pf, Pc])
        Bs = np.concatenate([B0, Bc])
        target = np.vstack([lm_fixed, contour_pts])
        wrow = np.concatenate([np.full(len(Pf), np.sqrt(wts.landmarks)), np.full(len(Pc), np.sqrt(wts.contour))])
        Y = P @ R.T + t
        uv = _project(Y, f, cx, cy)
        r = ((uv - target) * sn * wrow[:, None]).ravel()
        if not with_jac:
            return r, uv
        z = Y[:, 2]
        n = len(P)
        dudY = np.zeros((n, 2, 3))
        dudY[:, 0, 0] = f / z
        dudY[:, 0, 2] = -f * Y[:, 0] / z ** 2
        dudY[:, 1, 1] = f / z
        dudY[:, 1, 2] = -f * Y[:, 1] / z ** 2
        RP = P @ R.T
        # dY/dw = -[RP]x
        dYdw = np.zeros((n, 3, 3))
        dYdw[:, 0, 1], dYdw[:, 0, 2] = RP[:, 2], -RP[:, 1]
        dYdw[:, 1, 0], dYdw[:, 1, 2] = -RP[:, 2], RP[:, 0]
        dYdw[:, 2, 0], dYdw[:, 2, 1] = RP[:, 1], -RP[:, 0]
        J = np.zeros((n, 2, 7 + nc))
        J[:, :, 0] = uv - np.array([cx, cy])
        J[:, :, 1:4] = dudY @ dYdw
        J[:, :, 4:7] = dudY
        J[:, :, 7:] = dudY @ (R[None] @ Bs)
        J *= (sn * wrow)[:, None, None]
        return r, J.reshape(2 * n, -1)

    def prior_rows(cvec, log_fs, stage):
        # rows: focal, identity, expression
        fs_rows = np.zeros((1, 7 + nc))
        fs_rows[0, 0] = np.sqrt(wts.focal) * 100.0  # (f_s - 1) in percent ~ 100 * log f_s
        r_f = np.array([np.sqrt(wts.focal) * 100.0 * log_fs])
        sid = np.sqrt(wts.identity * prior_scale) if stage > 0 else 1e3
        sex = np.sqrt(wts.expression * prior_scale) if stage > 0 else 1e3
        Jp = np.zeros((nc, 7 + nc))
        Jp[:nid, 7:7 + nid] = np.eye(nid) * sid
        Jp[nid:, 7 + nid:] = np.eye(nex) * sex
        rp = np.concatenate([(cvec[:nid] - id_mean) * sid, (cvec[nid:] - ex_mean) * sex])
        return np.vstack([fs_rows, Jp]), np.concatenate([r_f, rp])

    n_outer = max(1, wts.iterations)
    total_steps = 0
    for it in range(-1, n_outer):
        if should_stop is not None and should_stop():
            raise Cancelled("Cancelled during the fit.")
        stage = 0 if it < 0 else 1  # stage 0: rigid + focal only
        if it >= 0:
            verts_now = model.vertices(c[:nid], c[nid:])
            picks = _silhouette_picks(model, topo, verts_now.astype(np.float64), R, t, f0 * np.exp(log_fs),
                                      cx, cy, contour_pts, contour_fallback)
        for _ in range(wts.gn_steps if stage else 4):
            r, J = residuals(c, R, t, log_fs, picks)
            Jp, rp = prior_rows(c, log_fs, stage)
            JJ = np.vstack([J, Jp])
            rr = np.concatenate([r, rp])
            lo, hi = lb.copy(), ub.copy()
            lo[7 + nid:] = -c[nid:]
            hi[7 + nid:] = 1 - c[nid:]
            if stage == 0:
                lo[7:], hi[7:] = -1e-12, 1e-12
            if stage == 0:
                step = np.zeros(7 + nc)
                step[:7] = np.linalg.lstsq(JJ[:, :7], -rr, rcond=None)[0]
            else:
                step = _bounded_least_squares(JJ.T @ JJ, JJ.T @ rr, lo, hi)
            log_fs += step[0]
            R = rodrigues(step[1:4]) @ R
            t = t + step[4:7]
            if stage:
                c = c + step[7:]
                c[nid:] = np.clip(c[nid:], 0, 1)
            total_steps += 1
        if it >= 0:
            r, uv = residuals(c, R, t, log_fs, picks, with_jac=False)
            err = np.linalg.norm(uv[: len(lm_fixed)] - lm_fixed, axis=1).mean() * sn
            history.append(float(err))

    f = f0 * np.exp(log_fs)
    verts = model.vertices(c[:nid], c[nid:]).astype(np.float64)
    corrective = np.zeros_like(verts)
    if wts.corrective_field:
        corrective = _corrective_field(model, topo, corr, verts, R, t, f, cx, cy, lm_fixed, contour_pts,
                                       picks, eye_px, wts)
        verts = verts + corrective
    Y = verts @ R.T + t
    if (Y[:SKIN_END, 2] <= 0).any():
        raise FitFailed("The fitted head ends up behind the camera; the landmarks are not plausible. Use a "
                        "photo where the face is clearly visible.")
    cam = Camera(fx=f, fy=f, cx=cx, cy=cy, rotation=R, translation=t, width=W, height=H)
    P = np.einsum("kj,kjd->kd", bw, verts[bv])
    err = float(np.linalg.norm(cam.project(P) - lm_fixed, axis=1).mean() * sn)
    history.append(err)
    return Fit(camera=cam, identity=c[:nid].astype(np.float32), expression=c[nid:].astype(np.float32),
               corrective=corrective.astype(np.float32), vertices=verts.astype(np.float32),
               contour_vertices=picks.astype(np.int32), landmark_error=err, iterations=total_steps,
               history=history)


def _bounded_least_squares(A: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                           max_iter: int = 30) -> np.ndarray:
    """Minimise 0.5 x'Ax + g'x subject to lo <= x <= hi (A symmetric positive definite), by an
    active-set method on the normal equations (small dense problems)."""
    n = len(g)
    A = A + 1e-9 * np.eye(n)
    x = np.clip(np.linalg.solve(A, -g), lo, hi)
    at_lo, at_hi = x <= lo, x >= hi
    for _ in range(max_iter):
        fixed = at_lo | at_hi
        free = ~fixed
        x[at_lo], x[at_hi] = lo[at_lo], hi[at_hi]
        if free.any():
            rhs = -g[free] - A[np.ix_(free, fixed)] @ x[fixed]
            x[free] = np.linalg.solve(A[np.ix_(free, free)], rhs)
        new_lo, new_hi = x < lo, x > hi
        grad = A @ x + g
        release = (at_lo & (grad < 0)) | (at_hi & (grad > 0))
        if not (new_lo.any() or new_hi.any() or release.any()):
            break
        at_lo = (at_lo & ~release) | new_lo
        at_hi = (at_hi & ~release) | new_hi
    return np.clip(x, lo, hi)


def _corrective_field(model, topo, corr, verts, R, t, f, cx, cy, lm_fixed, contour_pts, picks, eye_px, wts):
    """Solve the Laplacian-smooth corrective field dP (model space, cm) for the remaining landmark error.

    The landmark term is linearised in the camera's image plane (camera x and y; depth left to the
    regulariser), which splits the problem into two sparse systems sharing one factorisation.
    """
    n = SKIN_END
    # rows: fixed correspondences (bary) and contour vertices
    bv = np.vstack([corr.ict_vertices, np.repeat(picks[:, None], 3, 1)])
    bw = np.vstack([corr.ict_bary.astype(np.float64), np.tile([1.0, 0.0, 0.0], (len(picks), 1))])
    target = np.vstack([lm_fixed, contour_pts])
    wl = np.concatenate([np.full(len(lm_fixed), wts.landmarks), np.full(len(picks), wts.contour)])
    P = np.einsum("kj,kjd->kd", bw, verts[bv])
    Y = P @ R.T + t
    uv = _project(Y, f, cx, cy)
    # desired camera-space displacement (cm) to close the 2D error at each point's depth
    d = -(uv - target) * (Y[:, 2:3] / f)
    # eye distance in cm at the face's depth converts cm to "percent of eye distance"
    eye_cm = eye_px * float(np.median(Y[:, 2])) / f
    s2 = (100.0 / eye_cm) ** 2
    rows = np.repeat(np.arange(len(bv)), 3)
    A = sp.csr_matrix((bw.ravel(), (rows, bv.ravel())), shape=(len(bv), n))
    Wd = sp.diags(wl * s2)
    L = topo["L"]
    M = (A.T @ Wd @ A + wts.laplacian * (L.T @ L) + wts.corrective * sp.eye(n)).tocsc()
    lu = splu(M)
    dcam = np.zeros((n, 3))
    for k in range(2):
        dcam[:, k] = lu.solve(A.T @ (wl * s2 * d[:, k]))
    dmodel = dcam @ R  # camera -> model (R orthonormal)
    full = np.zeros_like(verts)
    full[:n] = dmodel
    full[topo["follow"]] = dmodel[topo["follow_src"]]
    # eyeballs move rigidly with the mean of what surrounds them (no stretching of the iris)
    for a, b in ((21451, 23020), (23021, 24590)):
        full[a:b + 1] = full[a:b + 1].mean(0)
    return full
