"""make bench-look: how created heads look from every side, in Blender and outside it.

For each photo (the README's astronaut and Grace Hopper, and the real photos in ../shared/photos), the head is
made as ``headforge create --rig --export glb --lod 0,1,2`` makes it, then shown on one sheet:

* row 1, Cycles on the head.blend stage (studio world, key and rim light): the photo | the head over the photo
  through the photo camera | front | 3/4 (45 deg) | profile (90 deg) | back;
* row 2: the measured iris colour, then the four views in clay (grey material);
* row 3: the exported head.glb rendered outside Blender by pyrender (OpenGL; cut-out alpha as the glb asks,
  :func:`alpha_tested_shaders`), in its rest pose: LOD0 front, 3/4 and from behind, LOD2 3/4; then what the
  texture left out (covered pixels tinted magenta, fit.json's glasses and facial hair notes) and the albedo's face tile.

Sheets of the two sample photos go to ``docs/look/`` (committed); sheets of the evaluation photos go to
``out/look/`` only (those photos are never committed). ``--several`` adds the heads fitted to several photos of
one person in ``../shared/photos`` (Emma's three, Trump's two; ``*_photos.png``). ``--hair-style NAME=STYLE``
makes that photo's head with a chosen hair style (``*_STYLE.png``), and ``NAME=STYLE,length=CM,volume=CM,curl=CM``
(any of the three) grows it again with those as Restyle Hair does. Usage:
``python bench/look.py [--size 320] [--samples 24] [--photos NAME ...] [--several] [--hair-style NAME=STYLE ...]``
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="headforge-blender-"))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # pyrender without a display (Mesa's software EGL)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: the views: (label, yaw in degrees from the front; positive turns the camera to the person's left)
VIEWS = (("front", 0.0), ("3/4", 45.0), ("profile", 90.0), ("back", 180.0))


def photos(several: bool = False) -> dict[str, tuple[Path, Path, list]]:
    """{name: (photo, sheet folder, more photos of the person)}: the samples into docs/look, the evaluation
    photos into out/look; with ``several``, the sets of one person's photos among them too."""
    from headforge.core import config
    from headforge.samples import astronaut, grace_hopper_path, write_png

    tmp = Path(tempfile.mkdtemp(prefix="headforge-look-"))
    out = {"astronaut": (write_png(astronaut(), tmp / "astronaut.png"), ROOT / "docs" / "look", []),
           "grace_hopper": (grace_hopper_path(), ROOT / "docs" / "look", [])}
    shared = config.shared_dir()
    if shared is not None:
        for p in sorted((shared / "photos").glob("*.[jp][pn]g")):
            out[p.stem] = (p, ROOT / "out" / "look", [])
        if several:
            from headforge.core.image import load_image
            from headforge.core.landmarks import detect_landmarks

            emma, debate = shared / "photos" / "3ddfa_emma.jpg", shared / "photos" / "3ddfa_trump_hillary.jpg"
            img = load_image(debate)
            left = min(range(2), key=lambda i: detect_landmarks(img, i).points[:, 0].mean())
            out["emma_3_photos"] = (emma, ROOT / "out" / "look", [(emma, 1), (emma, 2)])
            out["trump_2_photos"] = (shared / "photos" / "prnet_trump.jpg", ROOT / "out" / "look", [(debate, left)])
    return out


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 20), (0, 0, 0), -1)
    cv2.putText(out, text, (5, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def fit_square(img: np.ndarray, size: int) -> np.ndarray:
    """``img`` (RGB) scaled to fit a ``size`` square, on grey."""
    h, w = img.shape[:2]
    s = size / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.full((size, size, 3), 60, np.uint8)
    y, x = (size - small.shape[0]) // 2, (size - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def head_frame(head) -> tuple[np.ndarray, float]:
    """The head's bounding-box centre (metres, world) and its largest extent."""
    from mathutils import Vector

    corners = np.array([head.matrix_world @ Vector(c) for c in head.bound_box])
    return corners.mean(0), float(np.ptp(corners, axis=0).max())


def orbit_pose(centre: np.ndarray, extent: float, yaw_deg: float, lens_mm: float) -> np.ndarray:
    """A 4x4 camera-to-world matrix (Blender camera: looks along -Z, +Y up) looking at ``centre`` from the
    front (Blender -Y) turned by ``yaw_deg`` about the vertical, far enough for a ``lens_mm`` lens on a 36 mm
    sensor to frame ``extent`` with a margin."""
    dist = 1.15 * extent * lens_mm / 36.0
    a = math.radians(yaw_deg)
    eye = centre + dist * np.array([math.sin(a), -math.cos(a), 0.0])
    forward = (centre - eye) / np.linalg.norm(centre - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -forward, eye
    return m


def render_blender(name: str, photo: Path, size: int, samples: int, work: Path,
                   more_photos=(), hair_style: str = "photo") -> tuple[list, list, Path, object]:
    """The head of ``photo`` (and ``more_photos`` of the person) made and staged as ``headforge create`` does
    (with ``hair_style``); returns (textured views, clay views, head.glb path, the Avatar)."""
    import bpy
    from mathutils import Matrix

    from headforge.addon import build, export, rig, stage
    from headforge.addon.nodes import ensure_principled
    from headforge.addon.files import new_empty_scene
    from headforge.core import create_avatar

    style, *adjust = hair_style.split(",")
    avatar = create_avatar(str(photo), texture_size=2048, more_photos=more_photos, hair_style=style)
    new_empty_scene()
    made = build.build_head(avatar, name=name)
    head, photo_cam = made["head"], made["camera"]
    if adjust:   # length=, volume=, curl= (cm): the hair grown again as Restyle Hair grows it
        from headforge.addon.hair import restyle_hair

        restyle_hair(head, style, avatar.model, **{f"{k}_cm": float(v) for k, v in (a.split("=") for a in adjust)})
    stage.stage_head(head, photo_cam)
    rig.add_rig(head, avatar.model, arkit=True, avatar=avatar)
    glb = export.export_head(head, work / f"{name}.glb", "glb", (0, 1, 2), overwrite=True,
                             get_model=lambda: avatar.model)
    scene = bpy.context.scene
    scene.cycles.samples = samples
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    for o in scene.objects:
        if o.get("headforge_lod_of"):
            o.hide_render = True

    def shot(camera, w, h, path, transparent=False) -> np.ndarray:
        scene.camera = camera
        scene.render.resolution_x, scene.render.resolution_y = w, h
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = transparent
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)

    # the head over the photo, through the photo camera
    ph, pw = avatar.image.shape[:2]
    s = size / max(ph, pw)
    over = shot(photo_cam, max(16, round(pw * s)), max(16, round(ph * s)), work / "photo_cam.png", True)
    small = cv2.resize(avatar.image, over.shape[1::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
    a = over[..., 3:4].astype(np.float32) / 255
    overlay = fit_square((over[..., :3] * a + small * (1 - a)).astype(np.uint8), size)

    centre, extent = head_frame(head)
    cam = bpy.data.objects.new("look camera", bpy.data.cameras.new("look camera"))
    cam.data.lens = 85.0
    scene.collection.objects.link(cam)
    clay = bpy.data.materials.new("look clay")
    ensure_principled(clay)
    bsdf = next(n for n in clay.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Base Color"].default_value = (0.55, 0.55, 0.55, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.6
    textured, clayed = [label(fit_square(avatar.image, size), "photo"), label(overlay, "photo camera")], []
    for material, views in ((None, textured), (clay, clayed)):
        scene.view_layers[0].material_override = material
        for view, yaw in VIEWS:
            cam.matrix_world = Matrix(orbit_pose(centre, extent, yaw, cam.data.lens).tolist())
            img = shot(cam, size, size, work / "view.png")[..., :3]
            views.append(label(img, view + (" clay" if material else "")))
    scene.view_layers[0].material_override = None
    return textured, clayed, glb, avatar


@functools.lru_cache(maxsize=1)
def alpha_tested_shaders() -> str:
    """A folder with pyrender's shaders, the mesh shader discarding fragments whose alpha is under 0.5: glTF's
    alphaMode MASK (cutoff 0.5), which the glb's lashes and hair cap use and pyrender does not implement (it
    blends every material, unsorted, so a cut-out card's clear part hides what lies behind it)."""
    import pyrender

    out = Path(tempfile.mkdtemp(prefix="headforge-look-shaders-"))
    src = Path(pyrender.__file__).parent / "shaders"
    for f in src.iterdir():
        text = f.read_text()
        if f.name == "mesh.frag":
            end = "    frag_color = clamp(vec4(pow(color.xyz, vec3(1.0/2.2)), color.a * base_color.a), 0.0, 1.0);"
            assert end in text, "pyrender's mesh shader changed"
            text = text.replace(end, "    if (color.a * base_color.a < 0.5) discard;\n" + end)
        (out / f.name).write_text(text)
    return str(out)


def glb_mesh_of(geometry_names: list[str], glb: Path) -> dict[str, str]:
    """{trimesh geometry name: the glTF mesh it is a primitive of}. trimesh loads the primitives in the file's
    order, mesh by mesh, and names them after their mesh, made unique; its names cannot be parsed back (a
    mesh named ``eos_image_0010`` has primitives ``eos_image_0010``, ``eos_image_11``, ...), so the
    primitives are counted off each mesh in order."""
    import json
    import struct

    data = glb.read_bytes()
    (length,) = struct.unpack("<I", data[12:16])
    meshes = json.loads(data[20:20 + length])["meshes"]
    owners = [m["name"] for m in meshes for _ in m["primitives"]]
    if len(owners) != len(geometry_names):
        raise SystemExit(f"{glb}: {len(geometry_names)} geometries loaded for {len(owners)} glTF primitives")
    return dict(zip(geometry_names, owners))


def render_glb(glb: Path, size: int) -> list[np.ndarray]:
    """head.glb as an engine sees it, rendered by pyrender (OpenGL), outside Blender: LOD0 front, 3/4 and from
    behind (150 deg), LOD2 3/4 (each alone), in its rest pose (glTF morph weights as exported)."""
    import pyrender
    import trimesh

    tscene = trimesh.load(str(glb))
    mesh_of = glb_mesh_of(list(tscene.geometry), glb)
    out = []
    for lod, yaw in ((0, 0.0), (0, 45.0), (0, 150.0), (2, 45.0)):
        lod_mesh = min(set(mesh_of.values()), key=len) + (f"_LOD{lod}" if lod else "")
        part = tscene.copy()
        part.delete_geometry([g for g, mesh in mesh_of.items() if mesh != lod_mesh])
        scene = pyrender.Scene.from_trimesh_scene(part, bg_color=[0.24, 0.24, 0.24, 1.0],
                                                  ambient_light=[0.35, 0.35, 0.35])
        lo, hi = part.bounds
        centre, extent = (lo + hi) / 2, float((hi - lo).max())
        # glTF is +Y up, the face towards +Z: the Blender orbit turned into glTF axes
        pose = orbit_pose(np.array([centre[0], -centre[2], centre[1]]), extent, yaw, 85.0)
        to_gltf = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], float)
        cam_pose = to_gltf @ pose
        scene.add(pyrender.PerspectiveCamera(yfov=2 * math.atan(18 / 85.0)), pose=cam_pose)
        scene.add(pyrender.DirectionalLight(intensity=3.0), pose=cam_pose)
        for node in scene.mesh_nodes:   # pyrender makes every material BLEND; the glb's are opaque or cut out
            for prim in node.mesh.primitives:
                prim.material.alphaMode = "OPAQUE"
        renderer = pyrender.OffscreenRenderer(size, size)
        renderer._renderer._program_cache = pyrender.shader_program.ShaderProgramCache(alpha_tested_shaders())
        try:
            colour, _ = renderer.render(scene)
        finally:
            renderer.delete()
        view = {0.0: "front", 45.0: "3/4"}.get(yaw, "back 3/4")
        out.append(label(np.ascontiguousarray(colour[..., :3]), f"glb LOD{lod} {view}"))
    return out


def texture_tiles(avatar, size: int) -> list[np.ndarray]:
    """What the texture left out (the photo with covered pixels tinted magenta, the notes of fit.json) and
    the albedo's face tile."""
    from headforge.core.facemodel import ATLAS_FACE

    from headforge.core.overlay import tint_covered

    seg = avatar.segmentation
    img = avatar.image if seg is None else tint_covered(avatar.image, seg.covered_image())
    found = [f"{k.replace('_', ' ')} {v['face_share']:.0%}" for k, v in avatar.covering_notes().items() if v["found"]]
    hair = "" if avatar.hair is None else f"; hair {avatar.hair.style}"
    said = "not segmented" if seg is None else ", ".join(["hair, background"] + found) + hair
    tile = avatar.albedo[: round(ATLAS_FACE * avatar.albedo.shape[0]), : round(ATLAS_FACE * avatar.albedo.shape[1])]
    return [label(fit_square(img.astype(np.uint8), size), f"left out (magenta): {said}"),
            label(fit_square(tile, size), "albedo (face tile)")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--photos", nargs="*", help="only these photos, by name without extension (default: all)")
    ap.add_argument("--several", action="store_true", help="also the heads fitted to several photos of one person")
    ap.add_argument("--hair-style", nargs="*", default=(), metavar="NAME=STYLE",
                    help="make these photos' heads with a chosen hair style (core.hairstyle.HAIR_STYLES)")
    args = ap.parse_args(argv)
    styles = dict(x.split("=", 1) for x in args.hair_style)
    work = Path(tempfile.mkdtemp(prefix="headforge-look-renders-"))
    known = photos(args.several)
    unknown = sorted(set(args.photos or ()) - set(known))
    if unknown:
        sys.exit(f"bench-look: no photo named {', '.join(unknown)}; the names are {', '.join(known)}")
    for name, (photo, folder, more) in known.items():
        if args.photos and name not in args.photos:
            continue
        t = time.perf_counter()
        try:
            textured, clayed, glb, avatar = render_blender(name, photo, args.size, args.samples, work, more,
                                                           styles.get(name, "photo"))
        except Exception as e:  # a photo without a face: say so, go on with the others
            print(f"{name}: no head ({e})")
            continue
        outside = render_glb(glb, args.size) + texture_tiles(avatar, args.size)
        blank = np.full_like(textured[0], 60)
        rows = [np.hstack(textured), np.hstack([label(blank, f"{name}: iris {avatar.iris.srgb}")] + clayed + [blank]),
                np.hstack(outside + [blank] * (len(textured) - len(outside)))]
        folder.mkdir(parents=True, exist_ok=True)
        suffix = styles[name].replace(",", "_").replace("=", "") if name in styles else ""
        sheet = folder / (f"{name}_{suffix}.png" if suffix else f"{name}.png")
        cv2.imwrite(str(sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
        print(f"{name}: {sheet} ({time.perf_counter() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
