"""Rasterise the head into an image: depth, normals, part mask and UVs per pixel (painter's algorithm with
OpenCV polygon fills; perspective-correct interpolation). Used for synthetic labels and for the coarse
depth that FineNet sees."""

from __future__ import annotations

import cv2
import numpy as np

from .camera import Camera
from .facemodel import REGIONS, FaceModel

# part mask values (hair, eyebrows, beard and glasses' frames: synthetic set v2; hats, headbands, earrings
# and what is held in front of the face, "other": set v4; clothes: set v5; from the renderer's own coverage,
# see core.synth.with_coverage)
(MASK_BACKGROUND, MASK_FACE, MASK_HEAD, MASK_EYES, MASK_MOUTH, MASK_HAIR, MASK_BROWS, MASK_BEARD,
 MASK_GLASSES, MASK_OTHER, MASK_CLOTHES) = range(11)
#: parts that Cycles renders see-through or nearly (not rasterised)
HIDDEN_PARTS = ("lacrimal_L", "lacrimal_R", "eye_blend_L", "eye_blend_R", "eye_occlusion_L", "eye_occlusion_R",
                "eyelashes_L", "eyelashes_R")


def rasterize(model: FaceModel, vertices: np.ndarray, cam: Camera, uv: bool = False) -> dict:
    """Depth (cm, inf = background), camera-space normals, part mask and (optionally) UVs per pixel, by
    painter's algorithm over the visible parts' triangles. Arrays are (H, W[, C])."""
    H, W = cam.height, cam.width
    Y = cam.to_camera(vertices)
    tl = model.triangle_loops
    tris = model.loop_vertex[tl]
    hidden = np.zeros(model.n_vertices, bool)
    for part in HIDDEN_PARTS:
        a, b = REGIONS[part]
        hidden[a:b + 1] = True
    keep = ~hidden[tris].any(1)
    tl, tris = tl[keep], tris[keep]
    z = Y[tris, 2]
    uvp = np.stack([cam.fx * Y[:, 0] / Y[:, 2] + cam.cx, cam.fy * Y[:, 1] / Y[:, 2] + cam.cy], 1)
    order = np.argsort(-z.mean(1))
    ids = np.full((H, W), -1, np.int32)
    sh = 4
    pts = np.round(uvp[tris] * (1 << sh) - 0.5 * (1 << sh)).astype(np.int32)
    inview = (pts[:, :, 0].max(1) >= 0) & (pts[:, :, 1].max(1) >= 0) & \
             (pts[:, :, 0].min(1) < W << sh) & (pts[:, :, 1].min(1) < H << sh) & (z.min(1) > 0)
    for k in order[inview[order]]:
        cv2.fillConvexPoly(ids, pts[k], int(k), lineType=cv2.LINE_8, shift=sh)
    out = {"depth": np.full((H, W), np.inf, np.float32), "normal": np.zeros((H, W, 3), np.float32),
           "mask": np.zeros((H, W), np.uint8), "triangle": ids}
    ii, jj = np.nonzero(ids >= 0)
    if len(ii) == 0:
        return out
    t = ids[ii, jj]
    a, b, c = uvp[tris[t, 0]], uvp[tris[t, 1]], uvp[tris[t, 2]]
    p = np.stack([jj + 0.5, ii + 0.5], 1)
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    w1 = (v2[:, 0] * v1[:, 1] - v2[:, 1] * v1[:, 0]) / den
    w2 = (v0[:, 0] * v2[:, 1] - v0[:, 1] * v2[:, 0]) / den
    bw = np.clip(np.stack([1 - w1 - w2, w1, w2], 1), 0, 1)
    bw /= bw.sum(1, keepdims=True)
    # perspective-correct depth: interpolate 1/z in screen space
    iz = (bw / Y[tris[t], 2]).sum(1)
    zc = 1.0 / iz
    pw = bw / Y[tris[t], 2] / iz[:, None]
    out["depth"][ii, jj] = zc
    N = model.vertex_normals(vertices) @ cam.rotation.T
    n = (N[tris[t]] * pw[:, :, None]).sum(1)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-9
    out["normal"][ii, jj] = n
    v = tris[t, 0]
    m = np.full(len(v), MASK_HEAD, np.uint8)
    m[v <= REGIONS["face"][1]] = MASK_FACE
    m[(v >= REGIONS["eyeball_L"][0]) & (v <= REGIONS["eyeball_R"][1])] = MASK_EYES
    mouth = ((v >= REGIONS["mouth_socket"][0]) & (v <= REGIONS["mouth_socket"][1])) | \
            ((v >= REGIONS["gums_tongue"][0]) & (v <= REGIONS["teeth"][1]))
    m[mouth] = MASK_MOUTH
    out["mask"][ii, jj] = m
    if uv:
        luv = model.loop_uv[tl[t]]
        out["uv"] = np.full((H, W, 2), -1.0, np.float32)
        out["uv"][ii, jj] = (luv * pw[:, :, None]).sum(1)
    return out
