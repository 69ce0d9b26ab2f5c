"""Eyelids: where the lid margins are on ICT-FaceKit's mesh, how far apart they stay when an eye closes, and the
per-person corrective that makes a blink close.

ICT's ``eyeBlink`` shapes are one delta for everyone: on the mean face the lids stop about 1 mm apart, and an
identity with other lids leaves more, a white sliver of eyeball. :func:`close_blinks` adds to a person's blink
shapes what their upper lid still lacks, so that at weight 1 the upper margin lies on the lower one.

The lid margin is found from the mesh itself: the face has a hole at each eye whose boundary curls into the eye
socket; the :data:`MARGIN_RING`-th ring of vertices out from that boundary is the margin (the ring whose upper and
lower halves come closest when ICT's blink closes the eye), split at the eye corners into an upper and a lower lid.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from .facemodel import FACE_END, REGIONS, FaceModel

#: the margin: this many edge rings out from the boundary of the face's eye hole
MARGIN_RING = 2
#: margin vertices this close to a corner (counted along the lid) are the corner itself and are not measured
CORNER_VERTICES = 2
#: the blink shapes by side (ICT's and ARKit's names); "L" is the person's left, +x
BLINK_KEYS = {"L": ("eyeBlink_L", "eyeBlinkLeft"), "R": ("eyeBlink_R", "eyeBlinkRight")}
#: parts whose vertices follow the upper lid's corrective, besides the face skin (the lashes move with the lid
#: as a whole; the eyeball and the tear line on the lower lid do not move)
FOLLOWERS = {"L": ("eye_socket_L", "eye_occlusion_L", "eye_blend_L"),
             "R": ("eye_socket_R", "eye_occlusion_R", "eye_blend_R")}
LASHES = {"L": "eyelashes_L", "R": "eyelashes_R"}
#: skin within this distance (cm) of the upper margin follows its corrective, fading out
FOLLOW_CM = 1.2
#: a closed lid is this close (cm) or closer
CLOSED_CM = 0.01


@lru_cache(maxsize=4)
def lid_margins(model: FaceModel) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"L": (upper, lower), "R": ...}``: each lid margin's vertex indices, from the inner to the outer corner
    or the reverse (both halves share their two corner vertices)."""
    loops = _boundary_loops(model, FACE_END)
    co = model.neutral.astype(np.float64)
    out = {}
    for side in ("L", "R"):
        a, b = REGIONS[f"eyeball_{side}"]
        eye = co[a:b + 1].mean(0)
        hole = min(loops, key=lambda lp: np.linalg.norm(co[lp].mean(0) - eye))
        ring = _ring(model, hole, MARGIN_RING)
        centre = co[ring].mean(0)
        ring = ring[np.argsort(np.arctan2(co[ring, 1] - centre[1], co[ring, 0] - centre[0]))]
        i0, i1 = sorted((int(np.argmin(co[ring, 0])), int(np.argmax(co[ring, 0]))))
        one, two = ring[i0:i1 + 1], np.r_[ring[i1:], ring[:i0 + 1]]
        out[side] = (one, two) if co[one, 1].mean() > co[two, 1].mean() else (two, one)
    return out


def lid_gaps(model: FaceModel, vertices: np.ndarray, side: str) -> np.ndarray:
    """Per upper-margin vertex (corners left out), its distance in cm to the lower margin (a polyline) in
    ``vertices`` ((N, 3) cm)."""
    upper, lower = lid_margins(model)[side]
    v = np.asarray(vertices, np.float64)
    inner = upper[CORNER_VERTICES:-CORNER_VERTICES]
    return np.linalg.norm(_closest_on_polyline(v[inner], v[lower]) - v[inner], axis=1)


def close_blinks(model: FaceModel, neutral: np.ndarray, keys: dict[str, np.ndarray]) -> dict[str, float]:
    """Correct the blink shapes in ``keys`` (``{name: (N, 3) cm delta}``, ICT or ARKit names, changed in place)
    for the person whose neutral is ``neutral`` ((N, 3) cm): at weight 1 the upper lid margin lies on the lower
    one; the lid skin near it, the socket and shells follow with a falloff, the lashes rigidly. Returns the
    largest remaining gap per corrected key (cm)."""
    base = np.asarray(neutral, np.float64)
    done = {}
    for side, names in BLINK_KEYS.items():
        for name in names:
            if name not in keys:
                continue
            delta = keys[name].astype(np.float64)
            followers, weights, sources = _followers(model, base, delta, side)
            upper, lower = lid_margins(model)[side]
            inner = upper[CORNER_VERTICES:-CORNER_VERTICES]
            for _ in range(6):  # the smoothed correction lands a little short; a few rounds settle it
                closed = base + delta
                need = np.zeros((len(upper), 3))
                target = _closest_on_polyline(closed[inner], closed[lower])
                need[CORNER_VERTICES:-CORNER_VERTICES] = target - closed[inner]
                delta[followers] += weights[:, None] * (sources @ need)
                if lid_gaps(model, base + delta, side).max() <= CLOSED_CM:
                    break
            keys[name] = delta.astype(keys[name].dtype)
            done[name] = float(lid_gaps(model, base + delta, side).max())
    return done


def _followers(model: FaceModel, base: np.ndarray, delta: np.ndarray, side: str):
    """The vertices that move with the upper margin's correction: ``(indices, weights (F,), sources (F, U))``,
    where ``sources`` spreads the corrections of the U upper-margin vertices smoothly along the lid."""
    upper, lower = lid_margins(model)[side]
    cand = [np.arange(FACE_END)] + [np.arange(REGIONS[p][0], REGIONS[p][1] + 1) for p in FOLLOWERS[side]]
    lash = np.arange(REGIONS[LASHES[side]][0], REGIONS[LASHES[side]][1] + 1)
    cand = np.concatenate(cand + [lash])
    margin = np.r_[upper, lower]
    dist, near = cKDTree(base[margin]).query(base[cand])
    on_upper = near < len(upper)
    is_lash = np.isin(cand, lash)
    keep = on_upper & ((dist < FOLLOW_CM) | is_lash) & ~np.isin(cand, lower)  # the corners stay where they are
    idx, dist, near = cand[keep], dist[keep], near[keep]
    # skin: by how much of the margin's blink motion it shares, fading with distance; lashes: rigidly
    motion = np.linalg.norm(delta[idx], axis=1) / np.maximum(np.linalg.norm(delta[upper[near]], axis=1), 1e-6)
    fade = (1 - np.clip(dist / FOLLOW_CM, 0, 1) ** 2) ** 2
    w = np.where(np.isin(idx, lash), 1.0, np.clip(motion, 0, 1) * fade)
    # each follower takes a Gaussian-weighted mean of the nearby margin corrections (along the lid)
    d_um = np.linalg.norm(base[idx][:, None] - base[upper][None], axis=2)
    g = np.exp(-(d_um / 0.15) ** 2)
    g /= np.maximum(g.sum(1, keepdims=True), 1e-12)
    return idx, w, g


def _closest_on_polyline(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """For each of ``points`` (P, 3) its closest point on the polyline ``poly`` (Q, 3)."""
    a, b = poly[:-1], poly[1:]
    ab = b - a
    t = np.clip(np.einsum("pqk,qk->pq", points[:, None] - a[None], ab) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
    q = a[None] + t[..., None] * ab[None]
    d = np.linalg.norm(q - points[:, None], axis=2)
    return q[np.arange(len(points)), d.argmin(1)]


def _boundary_loops(model: FaceModel, end: int) -> list[np.ndarray]:
    """The boundary loops (ordered vertex indices) of the polygons whose vertices are all below ``end``."""
    count: dict[tuple[int, int], int] = defaultdict(int)
    sizes = model.poly_size
    for s, n in zip(model.poly_start, sizes):
        vs = model.loop_vertex[s:s + n]
        if vs.max() >= end:
            continue
        for i in range(n):
            count[tuple(sorted((int(vs[i]), int(vs[(i + 1) % n]))))] += 1
    adj: dict[int, list[int]] = defaultdict(list)
    for (a, b), c in count.items():
        if c == 1:
            adj[a].append(b)
            adj[b].append(a)
    seen, loops = set(), []
    for start in adj:
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [w for w in adj[cur] if w != prev and w not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(np.array(loop))
    return loops


def _ring(model: FaceModel, boundary: np.ndarray, k: int) -> np.ndarray:
    """The face vertices exactly ``k`` edges from ``boundary`` (breadth first over the face's edges)."""
    adj = model.vertex_neighbors
    seen = set(int(v) for v in boundary)
    frontier = list(seen)
    for _ in range(k):
        nxt = []
        for v in frontier:
            for w in adj.indices[adj.indptr[v]:adj.indptr[v + 1]]:
                if w < FACE_END and int(w) not in seen:
                    seen.add(int(w))
                    nxt.append(int(w))
        frontier = nxt
    return np.array(frontier)
