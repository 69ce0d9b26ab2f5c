"""Non-rigid fit of the face model to detected landmarks (Digital Twin, section 3.4).

Gauss-Newton over focal scale ``f_s``, head rotation and translation, identity coefficients (prior
N(0, 1): ICT modes are one standard deviation), expression weights (bounded to [0, 1], prior towards 0),
then a per-vertex corrective field dP over the skin with the paper's regulariser: the Laplacian of the
deformed mesh kept close to that of the undeformed one (``|L dP|^2``, L linear) plus ``lambda_d |dP|^2``.

Landmark residuals are measured in percent of the detected outer-eye distance (x 100 / W_eye). The fit is
built so that it cannot make a head worse than its start:

* **Only what the camera sees counts.** Every landmark is weighted by how squarely its surface point faces
  the camera (:data:`HIDDEN_COS`, :data:`VISIBLE_COS`): the far cheek of a turned head, whose points
  MediaPipe only guesses, gets no weight. The jawline of the side turned away gets none either beyond
  :data:`CONTOUR_YAW` degrees of yaw (it is hidden behind the cheek).
* **Robust to a wrong point.** Iteratively reweighted least squares with a Cauchy weight
  (``FitWeights.robust_scale``): a landmark far from where the model can put it loses its pull.
* **Expression does not buy identity.** Expression weights pay a sparsity (L1) price besides the prior, so
  a neutral face stays neutral and identity is explained by identity.
* **A bounded corrective field.** It follows only the weighted landmarks and is softly limited to
  ``FitWeights.corrective_limit`` cm per vertex.

Jawline landmarks slide: every iteration each contour landmark is matched to the silhouette vertex of the
current mesh nearest to it. The three at the chin (``CHIN_FIXED``) keep fixed vertices: seen from the front
the chin's lower edge is often no silhouette of the mesh, and sliding matched them to a vertex up to 2 cm
away.

The seam for a learned initialiser: :func:`fit_landmarks` takes an :class:`InitialGuess` (identity,
expression, optional pose) and returns a :class:`Fit`.

Several photos of one person: :func:`fit_views` solves one Gauss-Newton problem over one identity and each
photo's pose, focal length and expression, and one corrective field for all (:func:`fit_landmarks` is its
one-photo case). Video: :func:`fit_frame` follows a frame from the last one's pose and expression, the
identity and corrective field fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg

from .camera import Camera, euler_degrees, rodrigues
from .correspondence import BROWS, Correspondence
from .errors import Cancelled, FitFailed
from .facemodel import JAW_CANDIDATES_LEFT, JAW_CANDIDATES_RIGHT, N_IDENTITY, REGIONS, SKIN_END, FaceModel

#: focal length guess in pixels = FOCAL_FACTOR * max(width, height) (about a 50 mm lens on full frame)
FOCAL_FACTOR = 1.4
#: jawline landmarks (of the 17) that keep their fixed vertex instead of sliding along the silhouette. In a
#: frontal view the chin's lower edge is rarely a silhouette edge of the mesh, so the nearest silhouette
#: vertex to the chin tip was often the one already taken by its neighbour, 1-2 cm away; the fit and the
#: corrective field then stretched the chin towards it (real photos, prior strength 3-10: 1.1-1.8 cm bumps).
CHIN_FIXED = (7, 8, 9)
#: a landmark whose surface faces the camera at a cosine below HIDDEN_COS gets no weight, above
#: VISIBLE_COS full weight (linear between): MediaPipe still returns points it cannot see, as guesses
HIDDEN_COS, VISIBLE_COS = 0.05, 0.3
#: the jawline of the side turned away from the camera: full weight up to CONTOUR_YAW[0] degrees of yaw,
#: none from CONTOUR_YAW[1] (the jaw there is hidden behind the cheek; the outline MediaPipe finds is the
#: cheek's)
CONTOUR_YAW = (15.0, 30.0)
#: the contour landmarks look for silhouette vertices among the jawline candidates and this many rings of
#: neighbours around them
POOL_RINGS = 14
#: relative residual the corrective field's conjugate-gradient solve stops at
CORRECTIVE_RTOL = 1e-8
#: Gauss-Newton steps of the rigid stage (pose and focal length only)
RIGID_STEPS = 4
#: a Gauss-Newton step that raises the energy is halved up to this many times, then not taken
MAX_HALVINGS = 6


@dataclass
class FitWeights:
    """Energy weights. Defaults start from the paper (w_c=25, w_r=10, lambda_d=4, lambda_f=5,
    lambda_q=5, 5 iterations) and were tuned on held-out renders and real photos (see the README)."""

    landmarks: float = 25.0       #: w_c, landmark correspondence weight
    #: weight of the sliding jawline landmarks (25 until 2026-12-05; with the stiffer corrective field the jaw
    #: can pull harder without bending the skin: see the README's *Fit weights*)
    contour: float = 40.0
    #: w_r, |L dP|^2 (paper: 10; ours has residuals in % of eye distance). With ``corrective``, 4 x the
    #: first values (1e4, 100) since 2026-12-05: the field followed MediaPipe's noise (see the README's *Fit
    #: weights*: held-out renders 2.79 -> 2.73 mm, one person's photos 1.62 -> 1.52 mm apart)
    laplacian: float = 4e4
    corrective: float = 400.0     #: lambda_d, |dP|^2 in cm^2 (paper: 4)
    focal: float = 5.0            #: lambda_f, (f_s - 1)^2 in percent units
    identity: float = 300.0       #: lambda_q for |alpha|^2 (paper: 5): keeps coefficients within ~3 std
    expression: float = 3000.0    #: lambda_q for |beta|^2 (paper: 5): weaker lets eyeWide/eyeLookUp saturate
    expression_sparsity: float = 3000.0  #: L1 price per unit of expression weight (squared-percent units)
    robust_scale: float = 2.0     #: Cauchy scale of a landmark's residual, % of eye distance (0: plain L2)
    #: the jawline's Cauchy scale is this many times ``robust_scale`` (MediaPipe's face oval is looser
    #: than its inner points, and the jaw carries the face's width)
    contour_robust_factor: float = 3.0
    #: the eyebrows' Cauchy scale is this many times ``robust_scale``. On real photos the fitted brows sat
    #: 4-8 % of the eye distance above MediaPipe's, which were robust-weighted as outliers (weights 0.04-0.2),
    #: though MediaPipe's brows are the nearer to an annotator's. Wider, the brows pull: on the annotated
    #: photo the brows' error falls from 7.5 to 5.6 % of the eye distance and the 68-point NME from 0.060 to
    #: 0.055; on 300 held-out v2 renders the NME goes from 4.31 to 4.36 % (see the README's *Accuracy*)
    brow_robust_factor: float = 3.0
    corrective_limit: float = 0.5  #: soft bound of the corrective field per vertex, cm (0: none)
    #: with the model's own landmarks (:class:`ModelPoints`): a point whose standard deviation is at most this
    #: (% of eye distance) gets full weight, one with a larger sigma ``(this / sigma)^2``
    trusted_sigma: float = 8.0
    outer_iterations: int = 5     #: contour re-picking and reweighting rounds
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
class ModelPoints:
    """What a landmark network (``core.modellandmarks``) gives the fit: targets for the fixed correspondences
    (in ``Correspondence.mp_index`` order; MediaPipe's own points or the network's) and for the jawline, each with
    its uncertainty, which weights it."""

    points: np.ndarray   #: (K, 2) pixels
    sigma: np.ndarray    #: (K,) pixels, each point's standard deviation
    mp_index: np.ndarray  #: (K,) the MediaPipe landmark each point replaces
    #: (17, 2) pixels: the jawline (the visible outline nearest each of iBUG-68's jaw landmarks), or None to
    #: keep the points MediaPipe's face oval gives
    contour: np.ndarray | None = None
    contour_sigma: np.ndarray | None = None  #: (17,) pixels


@dataclass
class Fit:
    camera: Camera
    identity: np.ndarray          #: (100,) float32
    expression: np.ndarray        #: (53,) float32 in [0, 1]
    corrective: np.ndarray        #: (N, 3) float32 cm, model space (zero off the skin)
    vertices: np.ndarray          #: (N, 3) float32 cm, fitted, model space
    contour_vertices: np.ndarray  #: (17,) int32 vertex chosen for each jawline landmark
    landmark_error: float         #: weighted mean 2D error of the fixed correspondences, % of eye distance
    gauss_newton_steps: int       #: Gauss-Newton steps taken, the rigid stage's included
    history: list = field(default_factory=list)  #: landmark_error after each outer iteration
    #: (K,) float32 final weight in [0, 1] of each fixed correspondence (``Correspondence.mp_index`` order):
    #: visibility times robust weight times trust; low where a point was hidden, disagreed with the model or
    #: was uncertain
    landmark_weights: np.ndarray | None = None
    #: (K,) float32 trust in [0, 1] of each fixed correspondence: 1 for MediaPipe's points, from its sigma for
    #: a model point (:class:`ModelPoints`)
    landmark_trust: np.ndarray | None = None
    #: (K,) float32 visibility in [0, 1] of each fixed correspondence (how squarely it faces the camera)
    landmark_visibility: np.ndarray | None = None
    #: (17,) float32 final weight of each jawline landmark (0 for the hidden side of a turned head)
    contour_weights: np.ndarray | None = None
    #: the corrective field before its soft bound, cm: how far the landmarks wanted to move the skin
    corrective_wanted: float = 0.0


# -------------------------------------------------------------------------------------------------
# topology the fit needs, cached on the face model


def fit_topology(model: FaceModel) -> dict:
    """The jaw pool (triangles and edges where the contour landmarks look for silhouette vertices), the
    skin's uniform Laplacian ``L`` (``SKIN_END`` x ``SKIN_END``, CSR) and the parts that follow the nearest
    skin vertex. Built once per face model and kept on it."""
    cached = model._cache.get("fit_topology")
    if cached is not None:
        return cached
    A = model.vertex_neighbors
    # jaw pool: candidates and their POOL_RINGS-ring on the skin
    mask = np.zeros(model.n_vertices, bool)
    mask[np.concatenate([JAW_CANDIDATES_RIGHT, JAW_CANDIDATES_LEFT])] = True
    for _ in range(POOL_RINGS):
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
    # skin Laplacian (uniform weights) for the corrective field
    As = A[:SKIN_END, :SKIN_END].tocsr()
    deg = np.asarray(As.sum(1)).ravel()
    L = sp.eye(SKIN_END, format="csr") - sp.diags(1.0 / np.maximum(deg, 1)) @ As
    # the non-skin parts that must follow the skin (eyelashes, eye occlusion/blend, lacrimal fluid,
    # eyeballs): nearest skin vertex in the neutral
    from scipy.spatial import cKDTree

    follow = np.arange(SKIN_END, model.n_vertices)
    _, nearest = cKDTree(model.neutral[:SKIN_END]).query(model.neutral[follow])
    topo = dict(pool_tris=pool_tris, edge_pairs=es[:-1][same],
                edge_tris=np.stack([ts[:-1][same], ts[1:][same]], 1), L=L.tocsr(), follow=follow,
                follow_src=nearest.astype(np.int32), side_x=model.neutral[:, 0])
    model._cache["fit_topology"] = topo
    return topo


# -------------------------------------------------------------------------------------------------


def initial_camera(width: int, height: int, focal_scale: float = 1.0) -> tuple[float, float, float]:
    f = FOCAL_FACTOR * max(width, height) * focal_scale
    return f, width / 2.0, height / 2.0


def _project(Y, f, cx, cy):
    z = Y[:, 2]
    return np.stack([f * Y[:, 0] / z + cx, f * Y[:, 1] / z + cy], 1)


def silhouette_picks(model, verts, camera: Camera, contour_pts, fallback):
    """For each of the 17 contour landmarks ``contour_pts`` ``(17, 2)`` (pixels), the silhouette vertex of
    ``verts`` under ``camera`` nearest to it in the image (the ``CHIN_FIXED`` ones keep ``fallback``)."""
    topo = fit_topology(model)
    Y = camera.to_camera(verts)
    pt = topo["pool_tris"]
    a, b, c = Y[pt[:, 0]], Y[pt[:, 1]], Y[pt[:, 2]]
    nrm = np.cross(b - a, c - a)
    facing = (nrm * (-(a + b + c) / 3)).sum(1) > 0
    et = topo["edge_tris"]
    sil = np.unique(topo["edge_pairs"][facing[et[:, 0]] != facing[et[:, 1]]])
    picks = np.array(fallback, np.int32)
    if sil.size == 0:
        return picks
    uv = _project(Y[sil], camera.fx, camera.cx, camera.cy)
    x = topo["side_x"][sil]
    for k in range(17):
        if k in CHIN_FIXED:
            continue
        ok = (x <= 0.5) if k < 8 else (x >= -0.5) if k > 8 else np.ones_like(x, bool)
        if ok.any():
            picks[k] = sil[ok][np.argmin(np.linalg.norm(uv[ok] - contour_pts[k], axis=1))]
    return picks


def landmarks_68(model: FaceModel, verts: np.ndarray, camera: Camera, contour_vertices: np.ndarray) -> np.ndarray:
    """(68, 2) pixels: the model's iBUG-68 landmark vertices of ``verts`` projected by ``camera``, the jawline
    at ``contour_vertices`` (a fit's silhouette picks, or the ICT jaw vertices)."""
    vid = model.landmarks68.copy()
    vid[:17] = contour_vertices
    return camera.project(np.asarray(verts, np.float64)[vid])


def annotated_landmarks_68(model: FaceModel, verts: np.ndarray, camera: Camera) -> np.ndarray:
    """(68, 2) pixels: the 68 landmarks of a known mesh ``verts`` seen by ``camera`` as an annotator marks them,
    the jawline on the visible outline (the silhouette vertex nearest each ICT jaw landmark's projection): the
    truth of the accuracy benchmark and of LandmarkNet's jawline."""
    jaw = model.landmarks68[:17]
    verts = np.asarray(verts, np.float64)
    return landmarks_68(model, verts, camera, silhouette_picks(model, verts, camera, camera.project(verts[jaw]), jaw))


def facing_weight(normals_cam: np.ndarray, points_cam: np.ndarray) -> np.ndarray:
    """(K,) in [0, 1]: how squarely each surface point ``points_cam`` ``(K, 3)`` with normal ``normals_cam``
    (camera space) faces the camera, ramped from :data:`HIDDEN_COS` (0) to :data:`VISIBLE_COS` (1)."""
    view = -points_cam / (np.linalg.norm(points_cam, axis=1, keepdims=True) + 1e-12)
    n = normals_cam / (np.linalg.norm(normals_cam, axis=1, keepdims=True) + 1e-12)
    return np.clip(((n * view).sum(1) - HIDDEN_COS) / (VISIBLE_COS - HIDDEN_COS), 0.0, 1.0)


def contour_side_weight(yaw_degrees: float) -> np.ndarray:
    """(17,) weights of the jawline landmarks at a head yaw (:func:`~headforge.core.camera.euler_degrees`):
    the side turned away fades out over :data:`CONTOUR_YAW`. Positive yaw turns the person's left cheek
    (+x, iBUG 9-16) away from the camera, negative their right (iBUG 0-7)."""
    w = np.ones(17)
    far = np.clip((CONTOUR_YAW[1] - abs(yaw_degrees)) / (CONTOUR_YAW[1] - CONTOUR_YAW[0]), 0.0, 1.0)
    hidden = slice(9, 17) if yaw_degrees > 0 else slice(0, 8)
    w[hidden] = far
    return w


def cauchy_weight(residual: np.ndarray, scale) -> np.ndarray:
    """IRLS weight of a Cauchy loss for residual norms ``residual`` (same units as ``scale``, a number or one
    per residual; 0: all 1)."""
    scale = np.broadcast_to(np.asarray(scale, np.float64), np.shape(residual))
    return np.where(scale > 0, 1.0 / (1.0 + (residual / np.where(scale > 0, scale, 1.0)) ** 2), 1.0)


@dataclass
class _State:
    """The fit's unknowns: shape coefficients (identity then expression), pose and log focal scale."""

    c: np.ndarray
    R: np.ndarray
    t: np.ndarray
    log_fs: float


class _LandmarkProblem:
    """The fixed data of one fit: landmark targets, the model at the correspondence points, the camera's
    principal point and the prior, and the residuals and Jacobians of the landmark energy."""

    def __init__(self, model: FaceModel, corr: Correspondence, points: np.ndarray, image_size, init, wts,
                 model_points: ModelPoints | None = None, offset: np.ndarray | None = None):
        """``offset``: ``(N, 3)`` cm added to the model's mean shape (a fitted head's corrective field, which a
        tracker keeps)."""
        self.model, self.corr, self.wts = model, corr, wts
        self.neutral = model.neutral if offset is None else model.neutral + np.asarray(offset, np.float32)
        self.W, self.H = image_size
        self.nid, self.nex = N_IDENTITY, model.n_expression
        self.nc = self.nid + self.nex
        pts = np.asarray(points, np.float64)
        self.eye_px = float(np.linalg.norm(pts[33] - pts[263])) if pts.shape[0] > 263 else 0.0
        if not np.isfinite(pts).all() or self.eye_px < 1:
            raise FitFailed("The landmarks are degenerate (eyes at the same place). Use a clearer photo of the face.")
        self.sn = 100.0 / self.eye_px  # pixels -> percent of eye distance
        self.lm_fixed = pts[corr.mp_index]
        #: (K,) the Cauchy scale of each fixed point's residual (% of eye distance): wider for the brows
        self.robust_scale = wts.robust_scale * np.where(np.isin(corr.mp_index, BROWS), wts.brow_robust_factor, 1.0)
        #: (K,) how much each fixed target is trusted: 1 for MediaPipe's points, from its sigma for a model point
        self.trust = np.ones(len(self.lm_fixed))
        self.contour_pts = corr.detected_68(pts)[:17].astype(np.float64)
        self.contour_trust = np.ones(17)
        if model_points is not None:
            if not np.array_equal(model_points.mp_index, corr.mp_index):
                raise ValueError("model_points are for other fixed correspondences than corr's")
            self.lm_fixed = np.asarray(model_points.points, np.float64)
            self.trust = self._trust(model_points.sigma)
            if model_points.contour is not None:
                self.contour_pts = np.asarray(model_points.contour, np.float64)
                self.contour_trust = self._trust(model_points.contour_sigma)
        #: (K, 3) the triangle corners of the fixed points, and their barycentric weights
        self.bv, self.bw = corr.ict_vertices, corr.ict_bary.astype(np.float64)
        bv = self.bv
        self.targets = np.vstack([self.lm_fixed, self.contour_pts])
        self.K = len(self.lm_fixed)
        # the model at the fixed correspondences: mean and basis, barycentric combinations
        self.M0 = (self.neutral[bv.ravel()].reshape(-1, 3, 3).astype(np.float64) * self.bw[:, :, None]).sum(1)
        self.Bf = model.basis_rows(bv.ravel()).astype(np.float64).reshape(len(bv), 3, 3, self.nc)
        self.Mf = self.neutral[bv].astype(np.float64)       # (K, 3 corners, 3)
        self.B0 = (self.Bf * self.bw[:, :, None, None]).sum(1)  # (K, 3, nc)
        self.f0, self.cx, self.cy = initial_camera(self.W, self.H)
        c = np.zeros(self.nc)
        if init.identity is not None:
            c[:self.nid] = np.asarray(init.identity, float)[:self.nid]
        if init.expression is not None:
            c[self.nid:] = np.clip(np.asarray(init.expression, float), 0, 1)
        self.c0 = c
        centred = init.identity_prior_mean
        #: the prior is centred on this view's guess: the guess is a measurement of the person (a joint fit of
        #: several views counts each view's); else it is the model's prior, counted once
        self.centred = bool(centred)
        self.prior_mean = c.copy() if centred else np.zeros(self.nc)
        self.prior_scale = float(init.prior_strength) if centred else 1.0
        #: how much this view's identity prior counts in a joint fit of several views (:func:`_trust_guesses`)
        self.identity_trust = 1.0

    def centre_expression_prior(self, expression: np.ndarray, strength: float) -> None:
        """Centre the expression prior on ``expression`` ``(53,)`` and make it ``strength`` times the default
        (for a video frame's fit, whose identity is not fitted: the identity prior's scale changes too, unused)."""
        self.prior_mean = self.prior_mean.copy()
        self.prior_mean[self.nid:] = np.clip(np.asarray(expression, float), 0, 1)
        self.prior_scale = float(strength)

    def _trust(self, sigma_px: np.ndarray) -> np.ndarray:
        """Full weight up to ``FitWeights.trusted_sigma`` (% of eye distance), then ``(trusted / sigma)^2``."""
        sigma = np.asarray(sigma_px, np.float64) * self.sn
        return np.minimum(1.0, (self.wts.trusted_sigma / np.maximum(sigma, 1e-6)) ** 2)

    # ---- geometry ---------------------------------------------------------------------------------
    def camera(self, s: _State) -> Camera:
        f = self.f0 * np.exp(s.log_fs)
        return Camera(fx=f, fy=f, cx=self.cx, cy=self.cy, rotation=s.R, translation=s.t, width=self.W,
                      height=self.H)

    def fixed_points(self, c: np.ndarray) -> np.ndarray:
        return self.M0 + self.B0 @ c

    def points_and_basis(self, c: np.ndarray, picks: np.ndarray):
        """Model points ``(K + 17, 3)`` (fixed correspondences, then the contour picks) and their basis."""
        Bc = self.model.basis_rows(picks).astype(np.float64)
        Pc = self.neutral[picks].astype(np.float64) + Bc @ c
        return np.vstack([self.fixed_points(c), Pc]), np.concatenate([self.B0, Bc])

    def fixed_normals(self, c: np.ndarray) -> np.ndarray:
        """(K, 3) model-space normals of the triangles the fixed correspondences lie on."""
        tri = self.Mf + self.Bf @ c
        return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])

    # ---- energy -----------------------------------------------------------------------------------
    def row_weights(self, w_fixed: np.ndarray, w_contour: np.ndarray) -> np.ndarray:
        return np.sqrt(np.concatenate([self.wts.landmarks * w_fixed, self.wts.contour * w_contour]))

    def residuals(self, s: _State, picks, wrow, with_jac=True):
        """Weighted landmark residuals (percent of eye distance), and their Jacobian ``(2(K+17), 7 + nc)``
        over (log focal scale, rotation increment, translation, coefficients)."""
        f = self.f0 * np.exp(s.log_fs)
        P, Bs = self.points_and_basis(s.c, picks)
        Y = P @ s.R.T + s.t
        uv = _project(Y, f, self.cx, self.cy)
        r = ((uv - self.targets) * self.sn * wrow[:, None]).ravel()
        if not with_jac:
            return r, uv
        z = Y[:, 2]
        n = len(P)
        dudY = np.zeros((n, 2, 3))
        dudY[:, 0, 0] = f / z
        dudY[:, 0, 2] = -f * Y[:, 0] / z ** 2
        dudY[:, 1, 1] = f / z
        dudY[:, 1, 2] = -f * Y[:, 1] / z ** 2
        RP = P @ s.R.T
        # dY/dw = -[RP]x
        dYdw = np.zeros((n, 3, 3))
        dYdw[:, 0, 1], dYdw[:, 0, 2] = RP[:, 2], -RP[:, 1]
        dYdw[:, 1, 0], dYdw[:, 1, 2] = -RP[:, 2], RP[:, 0]
        dYdw[:, 2, 0], dYdw[:, 2, 1] = RP[:, 1], -RP[:, 0]
        J = np.zeros((n, 2, 7 + self.nc))
        J[:, :, 0] = uv - np.array([self.cx, self.cy])
        J[:, :, 1:4] = dudY @ dYdw
        J[:, :, 4:7] = dudY
        J[:, :, 7:] = dudY @ (s.R[None] @ Bs)
        J *= (self.sn * wrow)[:, None, None]
        return r, J.reshape(2 * n, -1)

    def prior_rows(self, s: _State):
        """Rows of the focal, identity and expression priors: ``(1 + nc, 7 + nc)`` and their residuals."""
        w = self.wts
        fs_rows = np.zeros((1, 7 + self.nc))
        fs_rows[0, 0] = np.sqrt(w.focal) * 100.0  # (f_s - 1) in percent ~ 100 * log f_s
        r_f = np.array([np.sqrt(w.focal) * 100.0 * s.log_fs])
        scale = np.concatenate([np.full(self.nid, np.sqrt(w.identity * self.prior_scale * self.identity_trust)),
                                np.full(self.nex, np.sqrt(w.expression * self.prior_scale))])
        Jp = np.zeros((self.nc, 7 + self.nc))
        Jp[:, 7:] = np.diag(scale)
        return np.vstack([fs_rows, Jp]), np.concatenate([r_f, (s.c - self.prior_mean) * scale])

    def energy(self, s: _State, picks, wrow, rigid: bool, identity_prior: bool = True) -> float:
        """The energy a step lowers: weighted landmark residuals, the focal prior and (unless ``rigid``)
        the expression prior, the expressions' L1 price and (with ``identity_prior``) the identity prior (a
        joint fit of several views counts the one identity's prior once)."""
        r, _ = self.residuals(s, picks, wrow, with_jac=False)
        _, rp = self.prior_rows(s)
        if rigid:
            return float(r @ r + rp[0] ** 2)
        keep = rp if identity_prior else rp[self.prior_keep(False)]
        return float(r @ r + keep @ keep + 2 * self.wts.expression_sparsity * s.c[self.nid:].sum())

    def prior_keep(self, identity_prior: bool) -> np.ndarray:
        """Rows of :meth:`prior_rows` in a view's part of the energy: all, or all but the identity prior's."""
        rows = np.arange(1 + self.nc)
        return rows if identity_prior else np.delete(rows, np.s_[1:1 + self.nid])

    def rigid_step(self, s: _State, picks, wrow) -> _State:
        """One Gauss-Newton step over pose and focal length (the landmarks and the focal prior), halved until
        the energy goes down (a step that does not lower it is not taken)."""
        r, J = self.residuals(s, picks, wrow)
        Jp, rp = self.prior_rows(s)
        d = np.zeros(7 + self.nc)
        d[:7] = np.linalg.lstsq(np.vstack([J, Jp[:1]])[:, :7], -np.concatenate([r, rp[:1]]), rcond=None)[0]
        e0 = self.energy(s, picks, wrow, rigid=True)
        for _ in range(MAX_HALVINGS + 1):
            new = self.moved(s, d)
            if new.t[2] > 0 and np.isfinite(new.log_fs) and self.energy(new, picks, wrow, rigid=True) <= e0:
                return new
            d = d * 0.5
        return s

    def moved(self, s: _State, d: np.ndarray) -> _State:
        """``s`` moved by ``d`` (log focal scale, rotation increment, translation, coefficients), the
        expressions clipped to [0, 1]."""
        c = s.c + d[7:]
        c[self.nid:] = np.clip(c[self.nid:], 0, 1)
        return _State(c=c, R=rodrigues(d[1:4]) @ s.R, t=s.t + d[4:7], log_fs=s.log_fs + d[0])

    # ---- weights ----------------------------------------------------------------------------------
    def visibility(self, s: _State) -> np.ndarray:
        """(K,) how squarely each fixed correspondence faces the camera (:func:`facing_weight`)."""
        Y = self.fixed_points(s.c) @ s.R.T + s.t
        return facing_weight(self.fixed_normals(s.c) @ s.R.T, Y)

    def landmark_weights(self, s: _State, picks) -> tuple[np.ndarray, np.ndarray]:
        """Per-landmark weights: visibility (facing) times the robust weight of its current residual times its
        trust for the fixed correspondences; the side rule times the robust weight times its trust for the
        contour."""
        vis = self.visibility(s)
        _, uv = self.residuals(s, picks, np.ones(self.K + 17), with_jac=False)
        err = np.linalg.norm(uv - self.targets, axis=1) * self.sn
        robust = cauchy_weight(err[:self.K], self.robust_scale)
        robust_contour = cauchy_weight(err[self.K:], self.wts.robust_scale * self.wts.contour_robust_factor)
        side = contour_side_weight(euler_degrees(s.R)["yaw"])
        return vis * robust * self.trust, side * robust_contour * self.contour_trust

    def vertices(self, s: _State) -> np.ndarray:
        """(N, 3) float64 cm: the whole mesh of state ``s`` (with the offset)."""
        return (self.model.vertices(s.c[:self.nid], s.c[self.nid:]) + (self.neutral - self.model.neutral)
                ).astype(np.float64)

    def mean_error(self, s: _State, w_fixed: np.ndarray) -> float:
        """Weighted mean 2D error of the fixed correspondences, % of eye distance."""
        uv = self.camera(s).project(self.fixed_points(s.c))
        err = np.linalg.norm(uv - self.lm_fixed, axis=1) * self.sn
        return float((err * w_fixed).sum() / max(w_fixed.sum(), 1e-9))


def _initial_pose(prob: _LandmarkProblem, init: InitialGuess) -> _State:
    """The start: the guess's shape, and its pose or EPnP's on the fixed correspondences."""
    log_fs = float(np.log(max(init.focal_scale, 1e-3)))
    if init.rotation is not None and init.translation is not None:
        return _State(prob.c0.copy(), np.asarray(init.rotation, float), np.asarray(init.translation, float), log_fs)
    f = prob.f0 * np.exp(log_fs)
    K = np.array([[f, 0, prob.cx], [0, f, prob.cy], [0, 0, 1]])
    ok, rvec, tvec = cv2.solvePnP(prob.fixed_points(prob.c0), prob.lm_fixed, K, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        raise FitFailed("Could not find the head pose from the landmarks. Use a photo where the face is "
                        "clearly visible and not strongly distorted.")
    R = cv2.Rodrigues(rvec)[0]
    t = tvec.ravel().astype(float)
    if t[2] <= 0:  # behind the camera: flip
        R, t = -R, -t
    return _State(prob.c0.copy(), R, t, log_fs)


#: :func:`guess_trust`'s power of the cosine of the yaw. A turned face's guess is the weaker (on the accuracy
#: bench's renders 3.13 mm beyond 30 degrees of yaw against 2.55 within 15). On 51 held-out people seen in 5
#: photos (``make bench-views``' set, the most frontal first), the neutral face error of one head fitted to 2 / 3
#: / 5 photos at powers 0 (every guess alike), 2, 4, 8, 16: 2.429 / 2.425 / 2.482, 2.427 / 2.420 / 2.455,
#: 2.426 / 2.416 / 2.439, 2.427 / 2.414 / 2.429, 2.429 / 2.416 / 2.435 mm (the README's *Several photos*)
GUESS_TRUST_POWER = 4.0


@dataclass
class View:
    """One photo's share of a fit: MediaPipe's landmarks ``points`` ``(478, 2)`` pixels in an image of
    ``image_size = (width, height)``, where its fit starts, and the model's own points when a landmark network
    found them (the fixed correspondences, and the jawline when it has one, follow those instead)."""

    points: np.ndarray
    image_size: tuple[int, int]
    init: InitialGuess | None = None
    model_points: ModelPoints | None = None


def fit_landmarks(model: FaceModel, corr: Correspondence, points: np.ndarray, image_size: tuple[int, int],
                  init: InitialGuess | None = None, weights: FitWeights | None = None,
                  should_stop=None, model_points: ModelPoints | None = None) -> Fit:
    """Fit the model to MediaPipe landmarks ``points`` ``(478, 2)`` (pixels) of an image
    ``image_size = (width, height)``; with ``model_points`` the fixed correspondences, and the jawline when it
    has one, follow those instead (the jawline still slides along the silhouette). ``should_stop()`` is polled
    between iterations (raise :class:`Cancelled` when it returns True)."""
    return fit_views(model, corr, [View(points, image_size, init, model_points)], weights, should_stop)[0]


def fit_views(model: FaceModel, corr: Correspondence, views: list[View], weights: FitWeights | None = None,
              should_stop=None) -> list[Fit]:
    """Fit one head to several photos of one person (:class:`View`, one per photo): one identity and one
    corrective field shared by all, a camera, pose and expression per photo. The identity starts from the mean
    of the views' guesses, and each guess that asks for it centres a prior (:func:`_counts_identity_prior`);
    after the rigid stage both weigh each guess by how squarely its photo sees the face (:func:`_trust_guesses`).
    Returns one :class:`Fit` per view, in order; with one view it is the single-photo fit. ``should_stop()`` as
    for :func:`fit_landmarks`."""
    if not views:
        raise ValueError("fit_views needs at least one view")
    wts = weights or FitWeights()
    probs = [_LandmarkProblem(model, corr, v.points, v.image_size, v.init or InitialGuess(), wts, v.model_points)
             for v in views]
    _share_identity(probs)
    fallback = model.landmarks68[:17].astype(np.int32)

    def check_stop():
        if should_stop is not None and should_stop():
            raise Cancelled("Cancelled during the fit.")

    # rigid stage, each view alone: pose and focal length on the guess's shape, visible landmarks only
    states, picks = [], [fallback.copy() for _ in probs]
    for prob, v in zip(probs, views):
        s = _initial_pose(prob, v.init or InitialGuess())
        for _ in range(RIGID_STEPS):
            s = prob.rigid_step(s, fallback, prob.row_weights(*prob.landmark_weights(s, fallback)))
        states.append(s)
    states = _trust_guesses(probs, states)
    steps = RIGID_STEPS
    # shape stage: re-pick each view's contour and reweight, then Gauss-Newton over everything at once
    histories = [[] for _ in probs]
    for _ in range(max(1, wts.outer_iterations)):
        check_stop()
        wrows, w_fixed = [], []
        for k, (prob, s) in enumerate(zip(probs, states)):
            picks[k] = silhouette_picks(model, prob.vertices(s), prob.camera(s), prob.contour_pts, fallback)
            wf, wc = prob.landmark_weights(s, picks[k])
            wrows.append(prob.row_weights(wf, wc))
            w_fixed.append(wf)
        for _ in range(wts.gn_steps):
            states = _joint_step(probs, states, picks, wrows)
            steps += 1
        for prob, s, wf, h in zip(probs, states, w_fixed, histories):
            h.append(prob.mean_error(s, wf))

    weights_k = [prob.landmark_weights(s, p) for prob, s, p in zip(probs, states, picks)]
    verts = [prob.vertices(s) for prob, s in zip(probs, states)]
    cams = [prob.camera(s) for prob, s in zip(probs, states)]
    corrective, wanted = np.zeros_like(verts[0]), 0.0
    if wts.corrective_field:
        corrective, wanted = corrective_field(model, [_corrective_rows(prob, v, cam, p, *w) for prob, v, cam, p, w
                                                      in zip(probs, verts, cams, picks, weights_k)], wts)
    return [_view_fit(prob, s, v + corrective, cam, p, w, h, corrective, wanted, steps)
            for prob, s, v, cam, p, w, h in zip(probs, states, verts, cams, picks, weights_k, histories)]


def _view_fit(prob: _LandmarkProblem, s: _State, verts, cam: Camera, picks, weights, history, corrective,
              wanted: float, steps: int) -> Fit:
    """One view's :class:`Fit` of its final state ``s`` and the head ``verts`` (cm, corrective field added)."""
    w_fixed, w_contour = weights
    if (cam.to_camera(verts[:SKIN_END])[:, 2] <= 0).any():
        raise FitFailed("The fitted head ends up behind the camera; the landmarks are not plausible. Use a "
                        "photo where the face is clearly visible.")
    P = np.einsum("kj,kjd->kd", prob.bw, verts[prob.bv])
    err = np.linalg.norm(cam.project(P) - prob.lm_fixed, axis=1) * prob.sn
    landmark_error = float((err * w_fixed).sum() / max(w_fixed.sum(), 1e-9))
    return Fit(camera=cam, identity=s.c[:prob.nid].astype(np.float32), expression=s.c[prob.nid:].astype(np.float32),
               corrective=corrective.astype(np.float32), vertices=verts.astype(np.float32),
               contour_vertices=picks.astype(np.int32), landmark_error=landmark_error, gauss_newton_steps=steps,
               history=history + [landmark_error], landmark_weights=w_fixed.astype(np.float32),
               landmark_visibility=prob.visibility(s).astype(np.float32), landmark_trust=prob.trust.astype(np.float32),
               contour_weights=w_contour.astype(np.float32), corrective_wanted=wanted)


def _share_identity(probs: list[_LandmarkProblem]) -> None:
    """One identity for all views: every view starts from the mean of their identity guesses."""
    nid = probs[0].nid
    start = np.mean([p.c0[:nid] for p in probs], axis=0)
    for p in probs:
        p.c0[:nid] = start


def guess_trust(yaw_degrees: float) -> float:
    """How far a photo's identity guess is trusted beside other photos' of the same person, by how far the head
    is turned (degrees): ``cos(yaw) ** GUESS_TRUST_POWER``."""
    return float(max(np.cos(np.radians(yaw_degrees)), 0.0) ** GUESS_TRUST_POWER)


def _trust_guesses(probs: list[_LandmarkProblem], states: list[_State]) -> list[_State]:
    """Weigh the identity guesses of several views by :func:`guess_trust` of each view's yaw after the rigid
    stage (the most trusted view counts fully): each guess's prior is scaled by it, and every view's identity
    starts again from the guesses' weighted mean. With fewer than two views centred on guesses of their own
    (one photo, or photos fitted from the mean face), or every face turned 90 degrees or more, nothing changes.
    Returns the views' states with that start."""
    centred = [k for k, p in enumerate(probs) if p.centred]
    if len(centred) < 2:
        return states
    trust = np.array([guess_trust(euler_degrees(states[k].R)["yaw"]) for k in centred])
    if trust.max() <= 0:   # every face seen from the side or behind: nothing to prefer
        return states
    trust = trust / trust.max()
    nid = probs[0].nid
    start = (trust[:, None] * np.array([probs[k].prior_mean[:nid] for k in centred])).sum(0) / trust.sum()
    for k, t in zip(centred, trust):
        probs[k].identity_trust = float(t)
    out = []
    for p, s in zip(probs, states):
        p.c0[:nid] = start
        c = s.c.copy()
        c[:nid] = start
        out.append(_State(c=c, R=s.R, t=s.t, log_fs=s.log_fs))
    return out


def _counts_identity_prior(probs: list[_LandmarkProblem]) -> list[bool]:
    """Which views' identity priors a joint fit counts: every view whose prior is centred on its own guess (a
    regressor's guess from each photo is a measurement of the one identity: the sum of their priors is one
    prior as strong as all of them, centred on their mean), the model's own prior once."""
    return [k == 0 or p.centred for k, p in enumerate(probs)]


def _joint_step(probs: list[_LandmarkProblem], states: list[_State], picks, wrows) -> list[_State]:
    """One Gauss-Newton step over every view's pose, focal length and expression and the shared identity
    (expressions kept in [0, 1]; identity priors counted by :func:`_counts_identity_prior`), halved until the
    total energy goes down (a step that does not lower it is not taken).

    Unknowns: the identity, then per view its 7 pose terms (log focal scale, rotation, translation) and its
    expressions."""
    nid, nex = probs[0].nid, probs[0].nex
    per_view = 7 + nex
    n = nid + len(probs) * per_view
    A, g = np.zeros((n, n)), np.zeros(n)
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    cols, counted = [], _counts_identity_prior(probs)
    for k, (prob, s) in enumerate(zip(probs, states)):
        first = nid + k * per_view
        c = np.concatenate([np.arange(first, first + 7), np.arange(nid), np.arange(first + 7, first + per_view)])
        cols.append(c)
        r, J = prob.residuals(s, picks[k], wrows[k])
        Jp, rp = prob.prior_rows(s)
        keep = prob.prior_keep(identity_prior=counted[k])
        JJ = np.vstack([J, Jp[keep]])
        A[np.ix_(c, c)] += JJ.T @ JJ
        g[c] += JJ.T @ np.concatenate([r, rp[keep]])
        ex = c[7 + nid:]
        g[ex] += prob.wts.expression_sparsity   # L1 on the (non-negative) expression weights
        lo[ex], hi[ex] = -s.c[nid:], 1 - s.c[nid:]
    d = bounded_least_squares(A, g, lo, hi)

    def energy(sts):
        return sum(p.energy(s, pk, w, rigid=False, identity_prior=c)
                   for p, s, pk, w, c in zip(probs, sts, picks, wrows, counted))

    e0 = energy(states)
    for _ in range(MAX_HALVINGS + 1):
        new = [p.moved(s, d[c]) for p, s, c in zip(probs, states, cols)]
        if all(s.t[2] > 0 and np.isfinite(s.log_fs) for s in new) and energy(new) <= e0:
            return new
        d = d * 0.5
    return states


@dataclass
class FrameFit:
    """One video frame fitted with the person's identity fixed (:func:`fit_frame`)."""

    camera: Camera
    expression: np.ndarray        #: (53,) float64 in [0, 1]
    landmark_error: float         #: weighted mean 2D error of the fixed correspondences, % of eye distance
    contour_vertices: np.ndarray  #: (17,) int32
    state: _State                 #: where the next frame's fit starts


#: Gauss-Newton steps of a video frame's fit (from the previous frame's pose and expression). (Reweighting the
#: landmarks before each step at 4, 8 times the robust scale, so that an eyelid in a blink is no outlier at first,
#: was tried on a rendered clip: more false expressions, and the blinks were still not found.)
FRAME_STEPS = 2


def fit_frame(model: FaceModel, corr: Correspondence, points: np.ndarray, image_size: tuple[int, int],
              identity: np.ndarray, corrective: np.ndarray | None = None, previous: FrameFit | None = None,
              focal_scale: float = 1.0, weights: FitWeights | None = None,
              held: dict[int, float] | None = None, guess: np.ndarray | None = None,
              guess_strength: float = 1.0) -> FrameFit:
    """Fit one video frame: MediaPipe landmarks ``points`` ``(478, 2)`` pixels of a frame ``image_size``; the
    person's ``identity`` (100,) and ``corrective`` field ``(N, 3)`` cm stay as given, the focal length stays
    ``focal_scale`` (of the default guess; a clip has one camera). From ``previous`` (the last frame's fit)
    :data:`FRAME_STEPS` Gauss-Newton steps over pose and expression; without it (the first frame, or after
    the face was lost), the pose from EPnP, the rigid steps, then ``FitWeights.outer_iterations`` rounds of
    contour picks, reweighting and those steps. ``held``: expression weights measured otherwise (index ->
    weight in [0, 1], e.g. blinks from the lids' opening), kept at those values while the rest are fitted.
    ``guess``: the frame's expression ``(53,)`` in [0, 1] measured otherwise (CoarseNet's, calibrated): the
    expression prior is centred on it and ``guess_strength`` times the default."""
    wts = weights or FitWeights()
    init = InitialGuess(identity=identity, focal_scale=focal_scale,
                        expression=None if previous is None else previous.expression)
    prob = _LandmarkProblem(model, corr, points, image_size, init, wts, offset=corrective)
    if guess is not None:
        prob.centre_expression_prior(guess, guess_strength)
    fallback = model.landmarks68[:17].astype(np.int32)
    if previous is None:   # a first frame: the pose from scratch, then as many rounds as a photo's fit
        s, picks = _initial_pose(prob, init), fallback
        for _ in range(RIGID_STEPS):
            s = prob.rigid_step(s, picks, prob.row_weights(*prob.landmark_weights(s, picks)))
        rounds = max(1, wts.outer_iterations)
    else:
        s, rounds = previous.state, 1
    held_at = np.array(list((held or {}).keys()), np.int64)
    if held_at.size:
        c = s.c.copy()
        c[prob.nid + held_at] = np.clip(list(held.values()), 0, 1)
        s = _State(c=c, R=s.R, t=s.t, log_fs=s.log_fs)
    for _ in range(rounds):
        picks = silhouette_picks(model, prob.vertices(s), prob.camera(s), prob.contour_pts, fallback)
        w_fixed, w_contour = prob.landmark_weights(s, picks)
        wrow = prob.row_weights(w_fixed, w_contour)
        for _ in range(FRAME_STEPS):
            s = _expression_step(prob, s, picks, wrow, held_at)
    return FrameFit(camera=prob.camera(s), expression=s.c[prob.nid:].copy(),
                    landmark_error=prob.mean_error(s, w_fixed), contour_vertices=picks, state=s)


def _expression_step(prob: _LandmarkProblem, s: _State, picks, wrow, held_at: np.ndarray | None = None) -> _State:
    """One Gauss-Newton step over rotation, translation and expression (identity and focal length fixed;
    expressions kept in [0, 1], those at ``held_at`` not moved), halved until the energy goes down."""
    r, J = prob.residuals(s, picks, wrow)
    Jp, rp = prob.prior_rows(s)
    keep = prob.prior_keep(identity_prior=False)
    moving = np.setdiff1d(np.arange(prob.nex), [] if held_at is None else held_at)
    free = np.r_[1:7, 7 + prob.nid + moving]
    JJ = np.vstack([J, Jp[keep]])[:, free]
    g = JJ.T @ np.concatenate([r, rp[keep]])
    g[6:] += prob.wts.expression_sparsity
    lo, hi = np.full(len(free), -np.inf), np.full(len(free), np.inf)
    lo[6:], hi[6:] = -s.c[prob.nid + moving], 1 - s.c[prob.nid + moving]
    d = np.zeros(7 + prob.nc)
    d[free] = bounded_least_squares(JJ.T @ JJ, g, lo, hi)
    e0 = prob.energy(s, picks, wrow, rigid=False, identity_prior=False)
    for _ in range(MAX_HALVINGS + 1):
        new = prob.moved(s, d)
        if new.t[2] > 0 and prob.energy(new, picks, wrow, rigid=False, identity_prior=False) <= e0:
            return new
        d = d * 0.5
    return s


def bounded_least_squares(A: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray,
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


def soft_limit(d: np.ndarray, limit: float) -> np.ndarray:
    """Vectors ``d`` ``(N, 3)`` with their lengths softly bounded by ``limit`` (``limit * tanh(|d| /
    limit)``: unchanged when small, smooth, never longer than ``limit``; 0 = no bound)."""
    if limit <= 0:
        return d
    n = np.linalg.norm(d, axis=1, keepdims=True)
    return d * np.where(n > 1e-12, limit * np.tanh(n / limit) / np.maximum(n, 1e-12), 1.0)


def _corrective_rows(prob: _LandmarkProblem, verts, cam: Camera, picks, w_fixed, w_contour):
    """One view's part of the corrective field: the rows' barycentric matrix ``A`` (rows x ``SKIN_END``,
    fixed correspondences then contour vertices), their weights (landmark weight in squared percent of the eye
    distance per squared cm), the camera-plane move (cm, camera x and y) that closes each row's 2D error at
    its depth, and the camera's rotation."""
    wts = prob.wts
    bv = np.vstack([prob.bv, np.repeat(picks[:, None], 3, 1)])
    bw = np.vstack([prob.bw, np.tile([1.0, 0.0, 0.0], (len(picks), 1))])
    wl = np.concatenate([wts.landmarks * w_fixed, wts.contour * w_contour])
    P = np.einsum("kj,kjd->kd", bw, verts[bv])
    Y = cam.to_camera(P)
    uv = _project(Y, cam.fx, cam.cx, cam.cy)
    d = -(uv - prob.targets) * (Y[:, 2:3] / cam.fx)
    # eye distance in cm at the face's depth converts cm to "percent of eye distance"
    eye_cm = prob.eye_px * float(np.median(Y[:, 2])) / cam.fx
    rows = np.repeat(np.arange(len(bv)), 3)
    A = sp.csr_matrix((bw.ravel(), (rows, bv.ravel())), shape=(len(bv), SKIN_END))
    return A, wl * (100.0 / eye_cm) ** 2, d, cam.rotation


def corrective_field(model, views: list, wts: FitWeights):
    """Solve the Laplacian-smooth corrective field dP (model space, cm) for the remaining error of the
    weighted landmarks of one or more views (:func:`_corrective_rows` each); returns ``(field (N, 3), largest
    move before the soft bound in cm)``.

    Each view's landmark term is linearised in its camera's image plane (camera x and y; depth is left to the
    regulariser and to the other views), the views' landmark terms averaged (the field is as stiff against
    several photos as against one: summed, it followed each photo's landmark noise, and on held-out renders
    seen in 5 photos the neutral face was 2.59 mm from the truth against 2.49 averaged): one sparse system
    over the three axes of every skin vertex,
    symmetric positive definite, solved by conjugate gradients to :data:`CORRECTIVE_RTOL` (0.1 s; a sparse LU
    of the same system took 3 s).
    """
    topo, n = fit_topology(model), SKIN_END
    reg = wts.laplacian * (topo["L"].T @ topo["L"]) + wts.corrective * sp.eye(n)
    M = sp.kron(reg, sp.eye(3))
    rhs = np.zeros((n, 3))
    for A, w, d, R in views:   # the camera plane's rows P = R[:2]: P dP = d
        w = w / len(views)
        M = M + sp.kron(A.T @ sp.diags(w) @ A, R[:2].T @ R[:2])
        rhs += (A.T @ (w[:, None] * d)) @ R[:2]
    x, info = cg(M.tocsr(), rhs.ravel(), rtol=CORRECTIVE_RTOL, maxiter=5000)
    if info != 0:
        raise FitFailed("The corrective field did not converge; the landmarks are not plausible. Use a photo where "
                        "the face is clearly visible.")
    dmodel = x.reshape(n, 3)
    wanted = float(np.linalg.norm(dmodel, axis=1).max())
    dmodel = soft_limit(dmodel, wts.corrective_limit)
    full = np.zeros((model.n_vertices, 3))
    full[:n] = dmodel
    full[topo["follow"]] = dmodel[topo["follow_src"]]
    # eyeballs move rigidly with the mean of what surrounds them (no stretching of the iris)
    for eye in ("eyeball_L", "eyeball_R"):
        a, b = REGIONS[eye]
        full[a:b + 1] = full[a:b + 1].mean(0)
    return full, wanted
