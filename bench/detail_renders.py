"""Skin detail on the real photos, shown: Cycles renders of the fitted head through the photo's camera under
a grazing light unlike the photo's (so it is relief, not baked shading, that shows), side by side: the photo's
face | clay, no detail | clay, FineNet alone (the detail before 2026-12-04) | clay, the medium scale from the
photo's shading alone | clay, the detail now (shading + FineNet's fine band) | the same at strength 2 |
textured, now | the UV displacement map now (face tile; mid-grey 0, black 0.2 mm deep). One PNG per photo.

Usage: python bench/detail_renders.py [--out out/detail] [--size 384] [--samples 24] [--weights PATH]
       [--photos STEM ...]   (stems of ../shared/photos; default: the astronaut and Grace Hopper)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="headforge-blender-"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from headforge.samples import astronaut, grace_hopper_path  # noqa: E402


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def render_photo(name: str, image: np.ndarray, out: Path, size: int, samples: int, weights) -> Path:
    import bpy

    from headforge.addon.build import ensure_principled, build_head
    from headforge.addon import schema
    from headforge.addon.files import new_empty_scene
    from headforge.core import create_avatar, detail as fine

    a = create_avatar(image, texture_size=2048, detail=True, detail_path=weights)
    if a.detail is None or a.detail.fine is None:
        raise SystemExit("no detail from FineNet (are its weights there?)")
    finenet_alone = fine.finenet_uv(fine.load(weights or fine.WEIGHTS), a.model, a.vertices, a.camera, a.image,
                                    a.landmarks.points, a.detail.uv.shape[0])[0]
    new_empty_scene()
    scene = bpy.context.scene
    built = build_head(a, make_active_camera=True)
    head = built["head"]
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.view_settings.view_transform = "AgX"
    world = bpy.data.worlds.new("bench world")
    if world.node_tree is None:  # Blender 5 gives new worlds a node tree
        world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.05, 0.05, 1)
    scene.world = world
    # grazing key light from the upper left of the camera, a weak fill from the right
    cam = built["camera"]
    for energy, angle in ((4.0, (-0.9, 0.9)), (0.6, (0.8, 0.1))):
        sun = bpy.data.objects.new(f"sun {energy}", bpy.data.lights.new(f"sun {energy}", "SUN"))
        sun.data.energy = energy
        sun.data.angle = 0.02
        scene.collection.objects.link(sun)
        sun.matrix_world = cam.matrix_world
        sun.rotation_euler.rotate_axis("Y", angle[0])
        sun.rotation_euler.rotate_axis("X", angle[1])
    # render only the face's box, enlarged so it is ``size`` pixels tall
    p = a.projected68
    lo, hi = p.min(0), p.max(0)
    c, half = (lo + hi) / 2, (hi - lo).max() * 0.75
    H, W = a.image.shape[:2]
    x0, x1 = max(0, c[0] - half), min(W, c[0] + half)
    y0, y1 = max(0, c[1] - half), min(H, c[1] + half)
    scene.render.resolution_percentage = int(np.clip(size / (y1 - y0) * 100, 1, 1000))
    scene.render.use_border, scene.render.use_crop_to_border = True, True
    scene.render.border_min_x, scene.render.border_max_x = x0 / W, x1 / W
    scene.render.border_min_y, scene.render.border_max_y = 1 - y1 / H, 1 - y0 / H
    scene.render.image_settings.file_format = "PNG"
    for m in head.modifiers:
        if m.type == "SUBSURF":
            m.render_levels = 3

    clay = bpy.data.materials.new("clay")
    ensure_principled(clay)
    bsdf = clay.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (0.5, 0.5, 0.5, 1)
    bsdf.inputs["Roughness"].default_value = 0.55
    skin = list(head.data.materials)

    def shot(label, strength, textured, disp_uv=None):
        if disp_uv is not None:
            set_detail(head, disp_uv)
        head[schema.DETAIL_STRENGTH] = float(strength)
        head.data.materials.clear()
        for mat in (skin if textured else [clay] * len(skin)):
            head.data.materials.append(mat)
        head.update_tag()
        bpy.context.view_layer.update()
        f = Path(tempfile.mkdtemp()) / "r.png"
        scene.render.filepath = str(f)
        t = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        img = cv2.imread(str(f))
        print(f"  {name}: {label}: {time.perf_counter() - t:.0f} s")
        return _label(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), label)

    crop = a.image[int(y0):int(y1), int(x0):int(x1), ::-1]
    tiles = [_label(cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA), "photo")]
    tiles += [shot("no detail", 0.0, False), shot("FineNet alone", 1.0, False, finenet_alone),
              shot("shading alone", 1.0, False, a.detail.medium), shot("now", 1.0, False, a.detail.uv),
              shot("now x2", 2.0, False), shot("textured, now", 1.0, True)]
    # the predicted UV displacement (face tile of the skin atlas), 0 mid-grey, 0.2 mm pits black
    from headforge.core.facemodel import ATLAS_FACE

    uv = a.detail.uv[: int(ATLAS_FACE * a.detail.uv.shape[0]), : int(ATLAS_FACE * a.detail.uv.shape[1])]
    g = np.clip(128 + uv * 10 / 0.2 * 127, 0, 255).astype(np.uint8)
    tiles.append(_label(cv2.cvtColor(cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR),
                        "UV displacement"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}_detail.png"
    cv2.imwrite(str(path), np.hstack(tiles))
    lo_cm, hi_cm = a.detail.range_cm
    print(f"  {name}: displacement range {lo_cm * 10:.2f} .. {hi_cm * 10:.2f} mm -> {path}")
    return path


def set_detail(head, disp_uv):
    """Give ``head`` another displacement map (the detail modifiers made again, render subdivision 3)."""
    import bpy

    from headforge.addon import schema
    from headforge.addon.detail import apply_detail

    for name in (schema.DETAIL_MODIFIER, schema.DETAIL_SUBDIVISION):
        m = head.modifiers.get(name)
        if m is not None:
            if m.type == "DISPLACE":
                head.driver_remove(f'modifiers["{name}"].strength')
                bpy.data.textures.remove(m.texture)
            head.modifiers.remove(m)
    apply_detail(head, disp_uv)
    head.modifiers[schema.DETAIL_SUBDIVISION].render_levels = 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/detail")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--photos", nargs="*", default=None)
    args = ap.parse_args()
    from headforge.core import config
    from headforge.core.image import load_image

    if args.photos:
        shared = config.shared_dir() / "photos"
        photos = [(stem, load_image(next(shared.glob(stem + ".[jp][pn]g")))) for stem in args.photos]
    else:
        photos = [("astronaut", astronaut()), ("grace_hopper", load_image(grace_hopper_path()))]
    for name, img in photos:
        render_photo(name, img, Path(args.out), args.size, args.samples, args.weights)


if __name__ == "__main__":
    main()
