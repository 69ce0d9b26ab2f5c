"""Clay renders of one person's heads from different photos, with and without the face descriptor's identity.

The neutral heads (identity plus corrective field, no expression) fitted to each photo of one person in
``../shared/photos`` (Emma's three pictures in ``3ddfa_emma.jpg``; Trump in ``prnet_trump.jpg`` and the left
face of ``3ddfa_trump_hillary.jpg``), front and profile, rendered by pyrender (OpenGL) in clay: one row
with CoarseNet's identity alone, one with the descriptor's ridge (``core.identity``). Heads of one person
should look alike. Writes ``out/look/<person>_identity.png`` (never committed: the photos are evaluation-only).

    python bench/identity_look.py
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # pyrender without a display (Mesa's software EGL)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from headforge.core import config  # noqa: E402
from headforge.core.facemodel import SKIN_END, load_face_model  # noqa: E402
from headforge.core.image import load_image  # noqa: E402
from headforge.core.pipeline import fit_photo  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "out" / "look"
TILE = (260, 300)   # width, height


def clay(model, verts: np.ndarray, yaw_deg: float) -> np.ndarray:
    """``(H, W, 3)`` uint8 render of the head's skin (cm, ICT axes: +y up, +z forward) from ``yaw_deg``."""
    import pyrender
    import trimesh

    tris = model.triangles[(model.triangles < SKIN_END).all(1)]
    mesh = pyrender.Mesh.from_trimesh(trimesh.Trimesh(verts[:SKIN_END], tris, process=False), smooth=True,
                                      material=pyrender.MetallicRoughnessMaterial(
                                          baseColorFactor=[0.75, 0.72, 0.7, 1.0], roughnessFactor=0.7))
    scene = pyrender.Scene(bg_color=[0.2, 0.2, 0.2, 1.0], ambient_light=[0.25] * 3)
    scene.add(mesh)
    centre, a = verts[:SKIN_END].mean(0), math.radians(yaw_deg)
    eye = centre + 75.0 * np.array([math.sin(a), 0.0, math.cos(a)])
    z = (eye - centre) / np.linalg.norm(eye - centre)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = np.stack([x, np.cross(z, x), z], 1), eye
    scene.add(pyrender.PerspectiveCamera(yfov=math.radians(22)), pose=pose)
    scene.add(pyrender.DirectionalLight(intensity=3.5), pose=pose)
    renderer = pyrender.OffscreenRenderer(*TILE)
    try:
        colour, _ = renderer.render(scene)
    finally:
        renderer.delete()
    return np.ascontiguousarray(colour[..., :3])


def main() -> int:
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    shared = config.shared_dir()
    if shared is None:
        print("error: ../shared/photos is needed (see the README)", file=sys.stderr)
        return 2
    model = load_face_model()
    photo = lambda name: load_image(shared / "photos" / name)  # noqa: E731
    emma, debate = photo("3ddfa_emma.jpg"), photo("3ddfa_trump_hillary.jpg")
    left = min(range(2), key=lambda i: fit_photo(debate, model, face_index=i).landmarks.points[:, 0].mean())
    people = {"emma": [(emma, i) for i in range(3)], "trump": [(photo("prnet_trump.jpg"), 0), (debate, left)]}
    OUT.mkdir(parents=True, exist_ok=True)
    for who, shots in people.items():
        rows = []
        for descriptor, title in ((False, "CoarseNet alone"), (None, "with the descriptor")):
            tiles = []
            for img, i in shots:
                fit = fit_photo(img, model, face_index=i, descriptor=descriptor).fit
                head = model.vertices(fit.identity) + fit.corrective
                tiles += [clay(model, head, 0.0), clay(model, head, 90.0)]
            row = np.hstack(tiles)
            cv2.putText(row, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
            rows.append(row)
        path = OUT / f"{who}_identity.png"
        cv2.imwrite(str(path), np.vstack(rows)[..., ::-1])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
