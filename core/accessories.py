"""Accessories and things in front of the face for synthetic people (set version 4): hats and caps,
headbands, earrings, and a hand, a phone or a microphone. Pure numpy (scipy for a nearest-direction search).

:func:`sample_accessories` draws what a person wears or holds (plain numbers). The geometry is fitted to
the head, in model cm (ICT axes: +x the person's left, +y up, +z forward):

* a hat or a headband is a :class:`Shell`: a surface a little outside the head (and its hair), above a
  line around the head (:func:`core.hair.line_around_head`), or between two such lines for a band; a cap
  adds a brim over the forehead. Scalp hair under a shell is tucked in (:meth:`Shell.tuck`), so strands
  come out below its edge rather than through it;
* earrings are polylines (rendered as curves) hanging from the ear lobes;
* a hand (a palm, four fingers and a thumb), a phone or a microphone is a few ellipsoids and boxes in
  front of the chin, the mouth or a cheek.

All of them are labelled "other" in the renders' masks (``core.synth.COVER_MASKS``): what covers the skin
and is neither hair nor glasses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .facemodel import LANDMARKS_68, SKIN_END, FaceModel
from .hair import in_ears, line_around_head, scalp_triangles, skull_ellipsoid

P_HAT, P_HEADBAND, P_EARRINGS, P_OCCLUDER = 0.18, 0.06, 0.2, 0.15
HATS = ("beanie", "cap")
OCCLUDERS = ("hand", "phone", "microphone")
#: where a hand, phone or microphone is held: 68-point landmarks of the chin, the mouth's corners and the
#: cheeks (the first of each pair is the person's right)
HELD_AT = {"chin": (8,), "mouth": (48, 54), "cheek": ((2,), (14,))}
#: a shell's grid: azimuth columns and rows from its upper to its lower edge
SHELL_COLUMNS, SHELL_ROWS = 72, 20
#: an ear's lobe: its lowest point within this distance (cm) of its outermost
LOBE_BAND_CM = 1.2
EARRING_POINTS = 16


def _colour(r: np.random.Generator) -> list[float]:
    """A fabric or plastic colour: mostly muted, sometimes bright, sometimes near black or white."""
    u = r.random()
    if u < 0.25:
        return [float(x) for x in np.full(3, r.uniform(0.02, 0.12)) + r.uniform(0, 0.03, 3)]
    if u < 0.4:
        return [float(x) for x in np.full(3, r.uniform(0.7, 0.95)) - r.uniform(0, 0.05, 3)]
    base = r.uniform(0.05, 0.85, 3)
    grey = base.mean()
    return [float(x) for x in np.clip(grey + (base - grey) * r.uniform(0.3, 1.5), 0, 1)]


def sample_accessories(r: np.random.Generator, skin_srgb) -> dict:
    """What one person wears and holds: ``{"hat", "headband", "earrings", "occluder"}``, each a dict or None."""
    hat = headband = earrings = occluder = None
    if r.random() < P_HAT:
        kind = HATS[int(r.integers(len(HATS)))]
        hat = {"kind": kind,
               # the edge's height over the forehead and at the back (the neutral's brows are at 6 cm)
               "front_cm": float(r.uniform(7.0, 9.0) if kind == "beanie" else r.uniform(8.0, 9.5)),
               "back_cm": float(r.uniform(-3.0, 0.5)),
               "gap_cm": float(r.uniform(1.0, 2.2) if kind == "beanie" else r.uniform(0.8, 1.5)),
               "brim_cm": float(r.uniform(5.0, 7.5)) if kind == "cap" else 0.0,
               "srgb": _colour(r), "roughness": float(r.uniform(0.5, 0.95))}
    elif r.random() < P_HEADBAND / (1 - P_HAT):
        low = float(r.uniform(8.0, 10.5))
        headband = {"front_cm": low, "width_cm": float(r.uniform(1.0, 4.0)), "gap_cm": float(r.uniform(0.3, 0.8)),
                    "srgb": _colour(r), "roughness": float(r.uniform(0.4, 0.9))}
    if r.random() < P_EARRINGS:
        hoop = r.random() < 0.5
        gold = r.random() < 0.5
        earrings = {"kind": "hoop" if hoop else "stud",
                    "radius_cm": float(r.uniform(0.6, 1.6) if hoop else r.uniform(0.12, 0.3)),
                    "wire_cm": float(r.uniform(0.05, 0.12) if hoop else r.uniform(0.12, 0.25)),
                    "srgb": [0.9, 0.7, 0.35] if gold else [0.85, 0.85, 0.88]}
    if r.random() < P_OCCLUDER:
        kind = OCCLUDERS[int(r.integers(len(OCCLUDERS)))]
        where = list(HELD_AT)[int(r.integers(len(HELD_AT)))] if kind == "hand" else \
            ("mouth" if kind == "microphone" else ["mouth", "cheek"][int(r.integers(2))])
        occluder = {"kind": kind, "at": where, "side": int(r.integers(2)),
                    "gap_cm": float(r.uniform(0.3, 1.5) if kind == "hand" else r.uniform(3.0, 9.0)),
                    "offset_cm": [float(x) for x in r.normal(0, 1.0, 2)],
                    "roll_deg": float(r.uniform(-35, 35)), "yaw_deg": float(r.uniform(-25, 25)),
                    "srgb": [float(x) for x in np.clip(np.asarray(skin_srgb) * r.uniform(0.9, 1.08), 0, 1)]
                    if kind == "hand" else _colour(r),
                    "roughness": float(r.uniform(0.35, 0.6) if kind == "hand" else r.uniform(0.2, 0.6))}
    return {"hat": hat, "headband": headband, "earrings": earrings, "occluder": occluder}


# -------------------------------------------------------------------------------------------------
# hats and headbands


def lookup_around(grid: np.ndarray, azimuth: np.ndarray, theta: np.ndarray, along: np.ndarray,
                  x: np.ndarray) -> np.ndarray:
    """Bilinear lookup in ``grid`` ``(A, P)``, tabulated at azimuths ``azimuth`` ``(A,)`` evenly spaced around the
    circle (wrapping) and at increasing ``along`` ``(P,)``, at azimuths ``theta`` and values ``x`` (clamped to
    the table): a surface around the head or the neck, ``(N,)``."""
    fa = (theta - azimuth[0]) / (azimuth[1] - azimuth[0])
    a0 = np.floor(fa).astype(int)
    wa = fa - a0
    fp = np.interp(x, along, np.arange(len(along)))
    p0 = np.minimum(np.floor(fp).astype(int), len(along) - 2)
    wp = fp - p0
    A = len(azimuth)
    here = grid[a0 % A, p0] * (1 - wp) + grid[a0 % A, p0 + 1] * wp
    there = grid[(a0 + 1) % A, p0] * (1 - wp) + grid[(a0 + 1) % A, p0 + 1] * wp
    return here * (1 - wa) + there * wa


def ring_quads(columns: int, rows: int) -> np.ndarray:
    """``(columns * (rows - 1), 4)`` quads joining a grid of vertices ``columns`` around by ``rows`` down (vertex
    ``column * rows + row``), closed around."""
    a, p = np.meshgrid(np.arange(columns), np.arange(rows - 1), indexing="ij")
    a, p = a.ravel(), p.ravel()
    here, there = a * rows + p, (a + 1) % columns * rows + p
    return np.stack([here, there, there + 1, here + 1], 1)


@dataclass
class Shell:
    """A surface around the top of the head: at each direction from ``centre`` it lies ``radius`` cm out,
    tabulated on a grid of azimuth (``arctan2(x, z)``, 0 = front) by polar angle from +y; it covers what
    lies above ``lower`` (and below ``upper``, for a band), two lines around the head (cm, model y)."""

    centre: np.ndarray      #: (3,) cm
    polar: np.ndarray       #: (P,) radians from +y, increasing
    azimuth: np.ndarray     #: (A,) radians in [-pi, pi), increasing
    radius: np.ndarray      #: (A, P) cm
    lower: tuple            #: (front, side, back) cm of the lower edge
    upper: tuple | None     #: (front, side, back) cm of the upper edge, or None (a hat's crown)

    def radius_at(self, directions: np.ndarray) -> np.ndarray:
        """The shell's radius (cm) in unit ``directions`` ``(N, 3)`` from the centre (bilinear in the grid)."""
        az = np.arctan2(directions[:, 0], directions[:, 2])
        po = np.arccos(np.clip(directions[:, 1], -1, 1))
        return lookup_around(self.radius, self.azimuth, az, self.polar, po)

    def covers(self, points: np.ndarray) -> np.ndarray:
        """Which of ``points`` ``(N, 3)`` cm lie between the shell's edges (at any distance)."""
        theta = np.arctan2(points[:, 0], points[:, 2])
        inside = points[:, 1] > line_around_head(theta, *self.lower)
        if self.upper is not None:
            inside &= points[:, 1] < line_around_head(theta, *self.upper)
        return inside

    def tuck(self, strands: np.ndarray, margin_cm: float = 0.25) -> np.ndarray:
        """Strand points ``(N, K, 3)`` cm moved inside the shell where they cover it: hair under a hat or a band."""
        pts = strands.reshape(-1, 3).copy()
        d = pts - self.centre
        dist = np.linalg.norm(d, axis=1)
        u = d / np.maximum(dist, 1e-9)[:, None]
        limit = self.radius_at(u) - margin_cm
        out = self.covers(pts) & (dist > limit)
        pts[out] = self.centre + u[out] * limit[out, None]
        return pts.reshape(strands.shape)

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """``(vertices (V, 3) cm, quads (F, 4))`` of the shell between its edges (its rows follow each
        column from the upper edge, or the crown, down to the lower edge)."""
        A = len(self.azimuth)
        rows = np.empty((A, SHELL_ROWS, 3))
        for k, az in enumerate(self.azimuth):
            direction = np.stack([np.sin(self.polar) * np.sin(az), np.cos(self.polar),
                                  np.sin(self.polar) * np.cos(az)], 1)
            pts = self.centre + direction * self.radius[k][:, None]
            y_low = float(line_around_head(np.array([az]), *self.lower)[0])
            y_high = np.inf if self.upper is None else float(line_around_head(np.array([az]), *self.upper)[0])
            # polar angles where the column crosses the edges (its height falls as the polar angle grows)
            p_lo = float(np.interp(-y_low, -pts[:, 1], self.polar))
            p_hi = self.polar[0] if self.upper is None else float(np.interp(-y_high, -pts[:, 1], self.polar))
            polar = np.linspace(p_hi, p_lo, SHELL_ROWS)
            radius = np.interp(polar, self.polar, self.radius[k])
            rows[k] = self.centre + np.stack([np.sin(polar) * np.sin(az), np.cos(polar),
                                              np.sin(polar) * np.cos(az)], 1) * radius[:, None]
        return rows.reshape(-1, 3), ring_quads(A, SHELL_ROWS)


def head_shell(model: FaceModel, vertices: np.ndarray, gap_cm: float, lower: tuple, upper: tuple | None = None,
               smooth: int = 3) -> Shell:
    """A :class:`Shell` ``gap_cm`` outside the skin of the head ``vertices`` ``(N_VERTICES, 3)`` cm: the
    skin's farthest point in each direction from the skull's middle, smoothed over neighbouring directions
    (so the ears and the nose do not dent it), never closer to the skin than half the gap."""
    from scipy.spatial import cKDTree

    centre, _ = skull_ellipsoid(vertices, np.unique(model.triangles[scalp_triangles(model, vertices)]))
    skin = vertices[:SKIN_END]
    skin = skin[~in_ears(skin)]
    d = skin - centre
    dist = np.linalg.norm(d, axis=1)
    tree = cKDTree(d / dist[:, None])
    azimuth = np.linspace(-np.pi, np.pi, SHELL_COLUMNS, endpoint=False)
    polar = np.linspace(0.02, np.radians(150), 60)
    az, po = np.meshgrid(azimuth, polar, indexing="ij")
    u = np.stack([np.sin(po) * np.sin(az), np.cos(po), np.sin(po) * np.cos(az)], -1).reshape(-1, 3)
    near = tree.query_ball_point(u, r=0.09)
    reach = np.array([dist[n].max() if n else np.nan for n in near]).reshape(az.shape)
    # directions the skin does not reach (below the chin) take their column's nearest known value
    for k in range(len(azimuth)):
        ok = np.isfinite(reach[k])
        reach[k] = np.interp(polar, polar[ok], reach[k][ok]) if ok.any() else np.nanmedian(reach)
    smoothed = reach.copy()
    for _ in range(smooth):   # a few passes of a 3 x 3 box over the (wrapping) grid
        padded = np.pad(smoothed, ((1, 1), (1, 1)), mode="wrap")
        padded[:, 0], padded[:, -1] = padded[:, 1], padded[:, -2]
        smoothed = sum(padded[1 + i:1 + i + smoothed.shape[0], 1 + j:1 + j + smoothed.shape[1]]
                       for i in (-1, 0, 1) for j in (-1, 0, 1)) / 9.0
    radius = np.maximum(smoothed + gap_cm, reach + 0.5 * gap_cm)
    return Shell(centre, polar, azimuth, radius, lower, upper)


def hat_shell(model: FaceModel, vertices: np.ndarray, hat: dict) -> Shell:
    """The crown of ``hat`` (:func:`sample_accessories`) on this head: down to its edge over the forehead,
    above the ears (a cap) or over their tops (a beanie), and at the back."""
    side = hat["front_cm"] - (2.5 if hat["kind"] == "beanie" else 1.5)
    return head_shell(model, vertices, hat["gap_cm"], (hat["front_cm"], side, hat["back_cm"]))


def headband_shell(model: FaceModel, vertices: np.ndarray, band: dict) -> Shell:
    """A band ``band["width_cm"]`` wide around the head from over the forehead to under the back of the skull."""
    low = (band["front_cm"], band["front_cm"] - 3.0, band["front_cm"] - 6.0)
    high = tuple(y + band["width_cm"] for y in low)
    return head_shell(model, vertices, band["gap_cm"], low, high)


def brim(shell: Shell, length_cm: float, half_angle: float = np.radians(60)) -> tuple[np.ndarray, np.ndarray]:
    """A cap's visor on ``shell``: from the front of its lower edge, ``length_cm`` forward at the middle and
    narrowing to nothing at ``half_angle`` to either side, drooping a little. ``(vertices (V, 3), quads (F, 4))``."""
    verts, _ = shell.mesh()
    edge = verts.reshape(len(shell.azimuth), SHELL_ROWS, 3)[:, -1]
    front = np.abs(shell.azimuth) <= half_angle
    edge, az = edge[front], shell.azimuth[front]
    order = np.argsort(az)
    edge, az = edge[order], az[order]
    reach = length_cm * np.sqrt(np.clip(1 - (az / half_angle) ** 2, 0, 1))
    out = np.stack([0.35 * np.sin(az), np.zeros_like(az), np.cos(az)], 1)   # mostly forward: a visor
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    tip = edge + out * reach[:, None] - np.array([0.0, 1.0, 0.0]) * 0.25 * reach[:, None]
    n = len(az)
    verts = np.vstack([edge, tip])
    k = np.arange(n - 1)
    return verts, np.stack([k, k + 1, n + k + 1, n + k], 1)


# -------------------------------------------------------------------------------------------------
# earrings


def ear_lobes(vertices: np.ndarray) -> np.ndarray:
    """``(2, 3)`` cm: the lowest point of each ear (the person's right first)."""
    skin = vertices[:SKIN_END]
    skin = skin[in_ears(skin)]
    lobes = []
    for side in (-1.0, 1.0):
        out = side * skin[:, 0]
        ear = skin[out >= out.max() - LOBE_BAND_CM]
        lobes.append(ear[np.argmin(ear[:, 1])])
    return np.stack(lobes)


def earring_curves(vertices: np.ndarray, earrings: dict) -> list[np.ndarray]:
    """Each earring as a closed polyline ``(EARRING_POINTS + 1, 3)`` cm hanging from its lobe: a hoop in the
    plane of the ear, or a stud (a small ring drawn with a thick wire)."""
    out = []
    t = np.linspace(0, 2 * np.pi, EARRING_POINTS + 1)
    rad = earrings["radius_cm"]
    for lobe in ear_lobes(vertices):
        if earrings["kind"] == "hoop":   # hangs below the lobe, a little out from the skin
            ring = np.stack([np.zeros_like(t), -rad * (1 - np.cos(t)), rad * np.sin(t)], 1)
            out.append(lobe + np.array([np.sign(lobe[0]) * 0.15, 0.1, 0.0]) + ring)
        else:                            # on the lobe's outer side
            ring = np.stack([np.zeros_like(t), rad * np.cos(t), rad * np.sin(t)], 1)
            out.append(lobe + np.array([np.sign(lobe[0]) * 0.2, 0.35, 0.0]) + ring)
    return out


# -------------------------------------------------------------------------------------------------
# a hand, a phone or a microphone


def _rotation(yaw_deg: float, roll_deg: float, pitch_deg: float = 0.0) -> np.ndarray:
    y, r, p = np.radians([yaw_deg, roll_deg, pitch_deg])
    Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    Rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    Rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return Ry @ Rz @ Rx


def ellipsoid(centre, radii, R: np.ndarray | None = None, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A UV ellipsoid: ``(vertices (V, 3), quads (F, 4))`` (the poles' quads have two corners in one place)."""
    po, az = np.meshgrid(np.linspace(0, np.pi, n + 1), np.linspace(0, 2 * np.pi, 2 * n, endpoint=False), indexing="ij")
    unit = np.stack([np.sin(po) * np.cos(az), np.cos(po), np.sin(po) * np.sin(az)], -1).reshape(-1, 3)
    verts = (unit * np.asarray(radii)) @ (np.eye(3) if R is None else R).T + np.asarray(centre)
    m = 2 * n
    i, j = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    i, j = i.ravel(), j.ravel()
    quads = np.stack([i * m + j, i * m + (j + 1) % m, (i + 1) * m + (j + 1) % m, (i + 1) * m + j], 1)
    return verts, quads


def box(centre, half, R: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A box: ``(vertices (8, 3), quads (6, 4))``."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * np.asarray(half)
    verts = corners @ (np.eye(3) if R is None else R).T + np.asarray(centre)
    quads = np.array([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]])
    return verts, quads


def joined(parts) -> tuple[np.ndarray, np.ndarray]:
    """Several ``(vertices, quads)`` meshes as one."""
    verts, quads, base = [], [], 0
    for v, q in parts:
        verts.append(v)
        quads.append(q + base)
        base += len(v)
    return np.vstack(verts), np.vstack(quads)


def occluder_mesh(vertices: np.ndarray, occ: dict) -> tuple[np.ndarray, np.ndarray]:
    """The hand, phone or microphone of ``occ`` (:func:`sample_accessories`) in front of this head, at least
    ``occ["gap_cm"]`` in front of its skin: ``(vertices (V, 3) cm, quads (F, 4))``."""
    verts, quads = _held_thing(vertices, occ)
    return _in_front(verts, vertices[:SKIN_END], occ["gap_cm"]), quads


def _in_front(verts: np.ndarray, skin: np.ndarray, gap_cm: float) -> np.ndarray:
    """``verts`` moved forward (+z) until every one is ``gap_cm`` in front of the skin it lies over."""
    from scipy.spatial import cKDTree

    near = cKDTree(skin[:, :2]).query_ball_point(verts[:, :2], r=0.8)
    need = [skin[n, 2].max() + gap_cm - z for n, z in zip(near, verts[:, 2]) if n]
    return verts + np.array([0.0, 0.0, max(0.0, max(need, default=0.0))])


def _held_thing(vertices: np.ndarray, occ: dict) -> tuple[np.ndarray, np.ndarray]:
    """The hand, phone or microphone of ``occ`` around the point it is held at, not yet clear of the skin."""
    lm = vertices[LANDMARKS_68]
    at = HELD_AT[occ["at"]]
    if isinstance(at[0], tuple):    # one of two sides
        at = at[occ["side"]]
    target = lm[list(at)].mean(0) + np.array([occ["offset_cm"][0], occ["offset_cm"][1], 0.0])
    R = _rotation(occ["yaw_deg"], occ["roll_deg"])
    front = np.array([0.0, 0.0, 1.0])
    if occ["kind"] == "phone":
        return box(target + front * (occ["gap_cm"] + 0.4), [3.6, 7.5, 0.4], R)
    if occ["kind"] == "microphone":   # the head in front of the mouth, the handle going down and forward
        tilt = _rotation(occ["yaw_deg"], occ["roll_deg"] * 0.3, pitch_deg=-35.0)
        head = target + front * (occ["gap_cm"] + 2.5) - np.array([0.0, 1.0, 0.0])
        handle = head + tilt @ np.array([0.0, -10.0, 0.0])
        return joined([ellipsoid(head, [2.5, 2.5, 2.5]), ellipsoid(handle, [1.4, 9.0, 1.4], tilt)])
    # a hand flat against the face: palm over the target, fingers up, thumb to one side
    palm_centre = target + front * (occ["gap_cm"] + 1.2)
    parts = [ellipsoid(palm_centre, [4.0, 4.6, 1.2], R)]
    for k, dx in enumerate((-2.7, -0.9, 0.9, 2.7)):
        length = (3.4, 4.1, 4.3, 3.8)[k]
        tip = R @ np.array([dx, 4.2 + length, 0.0])
        parts.append(ellipsoid(palm_centre + 0.5 * (R @ np.array([dx, 4.2, 0.0]) + tip), [0.85, length, 0.75], R))
    sign = 1.0 if occ["side"] else -1.0
    thumb = _rotation(occ["yaw_deg"], occ["roll_deg"] + sign * 50.0)
    parts.append(ellipsoid(palm_centre + R @ np.array([sign * 4.5, -0.5, 0.3]), [0.95, 3.3, 0.85], thumb))
    return joined(parts)
