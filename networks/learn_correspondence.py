"""Learn where MediaPipe's landmarks lie on the ICT-FaceKit surface from synthetic renders.

``python -m headforge.networks.learn_correspondence --train DATA [--train DATA2] --out core/weights/landmark_correspondence.npz``

The geometric correspondence (``core.correspondence``: MediaPipe's canonical face registered to ICT's) is
a guess at what each MediaPipe point means; on held-out renders its points sit 4.3 % of the eye distance
from where MediaPipe really puts them on an ICT head, and the fit bent the identity to follow that bias.
Here every fixed correspondence is moved to the ICT surface point whose projection lands, over the
training renders (true mesh and camera known), nearest to where MediaPipe put that landmark:

1. MediaPipe runs on every render once (cached beside the shards, as CoarseNet's training does).
2. For landmark j, the candidates are the points of the face triangles within ``--radius`` cm of its
   geometric position on the neutral face, sampled on a barycentric grid.
3. The cost of a candidate is the mean squared image distance to the detections, in units of each render's
   eye distance, over the renders where the candidate faces the camera (MediaPipe only guesses hidden points).
4. The cheapest candidate becomes the landmark's (triangle, barycentric) correspondence.

The jawline keeps its geometric positions along MediaPipe's face oval: learned the same way against the
silhouette they moved the fit's 68-point error by 0.01 points. The result (a few kilobytes of ICT vertex
ids and weights) ships in ``core/weights`` and :func:`headforge.core.correspondence.load_correspondence`
uses it when present.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..core.camera import Camera
from ..core.correspondence import build_correspondence
from ..core.facemodel import FACE_END
from ..core.facemodel import load_face_model
from ..core.fileio import save_npz
from ..core.fit import HIDDEN_COS
from .dataset import SynthSet, detect_all, detections

#: barycentric sample grid per candidate triangle (points with i + j + k = GRID)
GRID = 6


def _bary_grid(n: int = GRID) -> np.ndarray:
    return np.array([(i, j, n - i - j) for i in range(n + 1) for j in range(n + 1 - i)], np.float64) / n


def load_renders(roots: list[str], limit: int | None):
    """Detections and ground truth of the renders MediaPipe found a face in: ``(points (R, 478, 2),
    vertices (R, N, 3) float32 cm, cameras)``."""
    model = load_face_model()
    pts_all, verts, cams = [], [], []
    for root in roots:
        ds = SynthSet(root, limit=limit)
        detect_all(ds)
        pts, ok = detections(ds)
        lab = ds.labels(["identity", "expression", "K", "R", "t"])
        size = ds.config.size
        for n in np.flatnonzero(ok):
            K = lab["K"][n].astype(np.float64)
            cams.append(Camera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], lab["R"][n].astype(np.float64),
                               lab["t"][n].astype(np.float64), size, size))
            verts.append(model.vertices(lab["identity"][n], lab["expression"][n]))
            pts_all.append(pts[n])
    return model, np.stack(pts_all).astype(np.float64), np.stack(verts), cams


def learn_fixed(model, corr, points, verts, cams, radius: float):
    """(K, 3) triangle vertex ids and (K, 3) barycentric weights of each fixed correspondence, and the
    mean image error (% of eye distance) before and after."""
    R = np.stack([c.rotation for c in cams])
    t = np.stack([c.translation for c in cams])
    f = np.array([c.fx for c in cams])
    cc = np.stack([[c.cx, c.cy] for c in cams])
    eye = np.linalg.norm(points[:, 33] - points[:, 263], axis=1)
    tris = model.triangles[(model.triangles < FACE_END).all(1)]
    neutral = model.neutral.astype(np.float64)
    centroids = neutral[tris].mean(1)
    grid = _bary_grid()
    out_v, out_w = corr.ict_vertices.copy(), corr.ict_bary.astype(np.float64).copy()
    before, after = [], []

    def project(tri_ids, bary):
        """Pixels ``(R, T, G, 2)`` of the points ``bary`` ``(G, 3)`` on triangles ``tri_ids`` ``(T,)`` in every
        render, and whether each triangle faces the camera ``(R, T)``."""
        tri = verts[:, tris[tri_ids]].astype(np.float64)                     # (R, T, 3, 3)
        Yt = tri @ R[:, None].transpose(0, 1, 3, 2) + t[:, None, None]     # camera space
        nrm = np.cross(Yt[:, :, 1] - Yt[:, :, 0], Yt[:, :, 2] - Yt[:, :, 0])
        centre = Yt.mean(2)
        cos = -(centre * nrm).sum(2) / (np.linalg.norm(centre, axis=2) * np.linalg.norm(nrm, axis=2) + 1e-12)
        Y = bary @ Yt                                                        # (R, T, G, 3)
        uv = f[:, None, None, None] * Y[..., :2] / Y[..., 2:3] + cc[:, None, None]
        return uv, cos > HIDDEN_COS

    for j, mp in enumerate(corr.mp_index):
        target = points[:, mp]                                       # (R, 2)
        home = np.einsum("j,jd->d", out_w[j], neutral[out_v[j]])
        near = np.flatnonzero(np.linalg.norm(centroids - home, axis=1) < radius)
        uv, facing = project(near, grid)
        d2 = ((uv - target[:, None, None]) ** 2).sum(3) / eye[:, None, None] ** 2   # (R, T, G)
        n_facing = facing.sum(0)                                                     # (T,)
        mean = (d2 * facing[:, :, None]).sum(0) / np.maximum(n_facing, 1)[:, None]
        mean[n_facing < max(10, len(eye) // 4)] = np.inf
        if not np.isfinite(mean).any():
            continue
        ti, gi = np.unravel_index(int(np.argmin(mean)), mean.shape)
        old_tri = np.flatnonzero((np.sort(tris, 1) == np.sort(out_v[j])).all(1))
        if old_tri.size:   # the geometric point's error on the renders where the chosen one is seen
            uv0, _ = project(old_tri[:1], out_w[j][None])
            sel = facing[:, ti]
            e0 = ((uv0[:, 0, 0] - target) ** 2).sum(1) / eye ** 2
            before.append(float(np.sqrt(e0[sel].mean()) * 100))
            after.append(float(np.sqrt(mean[ti, gi]) * 100))
        out_v[j], out_w[j] = tris[near[ti]], grid[gi]
        if j % 50 == 0:
            print(f"  {j}/{len(corr.mp_index)} landmarks", flush=True)
    return out_v.astype(np.int32), out_w.astype(np.float32), float(np.mean(before)), float(np.mean(after))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", action="append", required=True, help="a synthetic set (repeat for several)")
    ap.add_argument("--limit", type=int, help="first N renders of each set")
    ap.add_argument("--radius", type=float, default=1.2, help="search radius around each point, cm")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    model, points, verts, cams = load_renders(args.train, args.limit)
    from ..core import config

    corr = build_correspondence(model, config.mediapipe_mesh_path())
    print(f"{len(cams)} renders with a face ({time.perf_counter() - t0:.0f} s)")
    v, w, before, after = learn_fixed(model, corr, points, verts, cams, args.radius)
    print(f"fixed correspondences: {before:.2f} -> {after:.2f} % of the eye distance (RMS, facing renders)")
    meta = {"renders": len(cams), "sets": args.train, "limit": args.limit, "radius_cm": args.radius,
            "fixed_rms_percent": [round(before, 3), round(after, 3)],
            "reproduce": "python -m headforge.networks.learn_correspondence " + " ".join(
                f"--train {t}" for t in args.train) + (f" --limit {args.limit}" if args.limit else "")}
    save_npz(Path(args.out), mp_index=corr.mp_index, ict_vertices=v, ict_bary=w,
             meta=np.array(json.dumps(meta)))
    print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
