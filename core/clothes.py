"""Clothes and shoulders for synthetic people (set version 5): a garment from a neckline down over the
shoulders and chest. Pure numpy.

The ICT head ends a few centimetres below the chin in a bare bust; photos show a collar, shoulders and a
chest. :func:`sample_clothes` draws a garment (crew neck, scoop, turtleneck or shirt collar; its thickness,
the shoulders' width, a colour and sometimes stripes); :func:`garment` fits it to the head as a
:class:`Garment`: a surface around the neck axis that lies outside the skin below the neckline (by the
cloth's thickness) and widens to the shoulders and chest below the mesh. Hair that would hang inside it
is moved out over it (:meth:`Garment.drape`). Units: model cm (ICT axes: +x the person's left, +y up, +z
forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .accessories import lookup_around, ring_quads
from .facemodel import SKIN_END
from .hair import line_around_head

#: necklines: (front, side, back) heights, cm (model y; the neutral's chin is at -7.6, the mesh's cut at the
#: front of the neck at -13.4), and how much further out than the cloth a collar stands
NECKLINES = {"crew": ((-11.5, -10.5, -9.5), 0.0), "scoop": ((-13.0, -12.0, -10.5), 0.0),
             "turtleneck": ((-9.0, -8.0, -7.0), 0.3), "collar": ((-12.0, -8.5, -7.0), 0.8)}
NECKLINE_P = (0.4, 0.2, 0.15, 0.25)
#: the garment's rows go down to here (cm): below any frame's bottom edge
BOTTOM_CM = -48.0
#: the neck's axis (model x = 0, z), cm; the shoulders' line and the chest's centre
NECK_Z_CM, SHOULDER_Y_CM, CHEST_Z_CM = -0.5, -20.0, -1.5
COLUMNS, ROW_STEP_CM = 72, 0.75


def sample_clothes(r: np.random.Generator) -> dict:
    """One person's garment (plain numbers)."""
    neckline = list(NECKLINES)[int(r.choice(len(NECKLINES), p=NECKLINE_P))]
    base = r.uniform(0.03, 0.9, 3)
    grey = base.mean()
    colour = np.clip(grey + (base - grey) * r.uniform(0.2, 1.3), 0.02, 0.95)
    stripes = r.random() < 0.2
    return {"neckline": neckline, "thickness_cm": float(r.uniform(0.3, 1.2)),
            "shoulder_cm": float(r.uniform(16.5, 22.0)), "chest_cm": float(r.uniform(9.0, 12.5)),
            "srgb": [float(x) for x in colour],
            "stripe_srgb": [float(x) for x in np.clip(colour * r.uniform(0.3, 1.6, 3), 0.02, 0.95)] if stripes else None,
            "stripe_cm": float(r.uniform(0.6, 3.0)), "roughness": float(r.uniform(0.6, 0.95))}


@dataclass
class Garment:
    """A surface around the neck axis: at azimuth ``azimuth[k]`` (``arctan2(x, z - NECK_Z_CM)``, 0 = front)
    and height ``heights[j]`` it lies ``radius[k, j]`` cm from the axis; it starts at the neckline
    (``top``: the neckline's height per column) and goes down to ``BOTTOM_CM``."""

    azimuth: np.ndarray   #: (A,) radians in [-pi, pi)
    heights: np.ndarray   #: (H,) cm, decreasing
    radius: np.ndarray    #: (A, H) cm
    top: np.ndarray       #: (A,) cm

    def radius_at(self, theta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The garment's distance from the neck axis (cm) at azimuths ``theta`` and heights ``y``."""
        return lookup_around(self.radius, self.azimuth, theta, -self.heights, -np.asarray(y))

    def drape(self, strands: np.ndarray, margin_cm: float = 0.3) -> np.ndarray:
        """Strand points ``(N, K, 3)`` cm below the neckline and inside the garment moved out onto it (hair
        falls over the clothes, not through them)."""
        pts = strands.reshape(-1, 3).copy()
        dx, dz = pts[:, 0], pts[:, 2] - NECK_Z_CM
        theta = np.arctan2(dx, dz)
        dist = np.hypot(dx, dz)
        top = np.interp(theta, self.azimuth, self.top, period=2 * np.pi)
        limit = self.radius_at(theta, pts[:, 1]) + margin_cm
        inside = (pts[:, 1] < top) & (dist < limit)
        scale = limit[inside] / np.maximum(dist[inside], 1e-6)
        pts[inside, 0] = dx[inside] * scale
        pts[inside, 2] = NECK_Z_CM + dz[inside] * scale
        return pts.reshape(strands.shape)

    def mesh(self, rows: int = 48) -> tuple[np.ndarray, np.ndarray]:
        """``(vertices (V, 3) cm, quads (F, 4))``: each column from its neckline down to ``BOTTOM_CM``, closed
        around the neck."""
        A = len(self.azimuth)
        t = np.linspace(0, 1, rows) ** 1.5   # rows closer together at the neckline and shoulders
        ys = self.top[:, None] + (BOTTOM_CM - self.top[:, None]) * t[None]
        radius = self.radius_at(np.repeat(self.azimuth, rows), ys.ravel()).reshape(A, rows)
        az = self.azimuth[:, None]
        verts = np.stack([radius * np.sin(az), ys, NECK_Z_CM + radius * np.cos(az)], -1).reshape(-1, 3)
        return verts, ring_quads(A, rows)


def _skin_reach(vertices: np.ndarray, azimuth: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """``(A, H)`` cm: how far from the neck axis the skin reaches around each grid cell (its farthest vertex
    within one cell, widened by a cell each way); 0 where there is no skin."""
    skin = vertices[:SKIN_END]
    skin = skin[skin[:, 1] < heights[0] + ROW_STEP_CM]
    theta = np.arctan2(skin[:, 0], skin[:, 2] - NECK_Z_CM)
    dist = np.hypot(skin[:, 0], skin[:, 2] - NECK_Z_CM)
    A, H = len(azimuth), len(heights)
    ai = np.round((theta - azimuth[0]) / (azimuth[1] - azimuth[0])).astype(int) % A
    hi = np.round((heights[0] - skin[:, 1]) / ROW_STEP_CM).astype(int)
    ok = (hi >= 0) & (hi < H)
    reach = np.zeros((A, H))
    np.maximum.at(reach, (ai[ok], hi[ok]), dist[ok])
    grown = reach.copy()
    for da in (-1, 0, 1):
        for dh in (-1, 0, 1):
            shifted = np.roll(np.roll(reach, da, 0), dh, 1)
            if dh == 1:
                shifted[:, 0] = 0
            elif dh == -1:
                shifted[:, -1] = 0
            grown = np.maximum(grown, shifted)
    return grown


def garment(vertices: np.ndarray, clothes: dict) -> Garment:
    """The garment of ``clothes`` (:func:`sample_clothes`) on the head ``vertices`` ``(N_VERTICES, 3)`` cm:
    ``thickness_cm`` outside the skin below the neckline (a collar further), and no narrower than a torso
    whose shoulders are ``shoulder_cm`` to either side and whose chest is ``chest_cm`` deep, reached
    smoothly from the neck down to the shoulders' line."""
    (front, side, back), collar = NECKLINES[clothes["neckline"]]
    azimuth = np.linspace(-np.pi, np.pi, COLUMNS, endpoint=False)
    top = line_around_head(azimuth, front, side, back)
    heights = np.arange(top.max() + ROW_STEP_CM, BOTTOM_CM - ROW_STEP_CM, -ROW_STEP_CM)
    skin = _skin_reach(vertices, azimuth, heights)
    # the torso: an ellipse around the neck axis growing from the neck's width to the shoulders'
    s = np.clip((heights[0] - heights) / (heights[0] - SHOULDER_Y_CM), 0, 1)
    s = s * s * (3 - 2 * s)
    half_w = 5.5 + (clothes["shoulder_cm"] - 5.5) * s
    half_d = 5.0 + (clothes["chest_cm"] - 5.0) * s
    shift = (CHEST_Z_CM - NECK_Z_CM) * s
    az = azimuth[:, None]
    # the ellipse's distance from the neck axis along each azimuth (its centre moved back by ``shift``)
    ux, uz = np.sin(az), np.cos(az)
    a_, b_ = half_w[None], half_d[None]
    qa = (ux / a_) ** 2 + (uz / b_) ** 2
    qb = -2 * uz * shift[None] / b_ ** 2
    qc = (shift[None] / b_) ** 2 - 1
    torso = (-qb + np.sqrt(np.maximum(qb ** 2 - 4 * qa * qc, 0))) / (2 * qa)
    thickness = clothes["thickness_cm"] + collar * np.clip((heights[None] - (top[:, None] - 2.0)) / 2.0, 0, 1)
    radius = np.maximum(np.where(skin > 0, skin + thickness, 0), torso)
    return Garment(azimuth, heights, radius, top)
