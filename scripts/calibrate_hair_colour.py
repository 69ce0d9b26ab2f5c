"""Check ``core.hair.hair_srgb`` (the colour the hair of a given melanin and redness is taken to have: the
synthetic scalp is painted with it, and a photo's hair colour is turned into melanin and redness through it)
against what Blender's Principled Hair BSDF (melanin parametrisation) shows in a render.

A patch of 3,000 strands lies flat in front of an orthographic camera in a uniform white world (strength 1),
rendered by Cycles at 48 x 48 px, 32 samples, with Blender's default AgX view transform (as ``head.blend``'s
stage and the synthetic set render); the median sRGB colour of the pixels the strands cover is compared with
``hair_srgb`` over a grid of melanin and redness (CIELAB distance).

``--stage``: the table ``core.hairstyle.RENDERED_HAIR_SRGB`` instead, what a head's hair shows on the stage of
``head.blend`` (``addon.stage``: studio world, key and rim light) seen from the front, where the photo's hair is
measured: medium hair (the photo reader's generator, 1.5 cm of volume) on the mean head, whose skin is held out
(the median sRGB of the pixels the hair covers wholly). A patch lit by a white world shows hair darker than a
head of hair does (light scatters from strand to strand through its depth). Usage:
``python scripts/calibrate_hair_colour.py [--stage]`` (about a minute on 2 cores either way).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="headforge-blender-"))

import bpy  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402


MELANIN = np.linspace(0.0, 1.0, 11)
REDNESS = np.linspace(0.0, 1.0, 3)


def strand_patch(n: int = 3000, seed: int = 0) -> np.ndarray:
    """``(n, 8, 3)`` model cm: straight strands 4 cm long lying side by side in the plane z = 0 (model y up),
    slightly wavy, a 4 x 4 cm patch."""
    r = np.random.default_rng(seed)
    x0, y0 = r.uniform(-2, 2, n), r.uniform(-2, -1.5, n)
    t = np.linspace(0, 4, 8)
    pts = np.zeros((n, 8, 3))
    pts[..., 0] = x0[:, None] + 0.05 * np.sin(t[None] + r.uniform(0, 6, n)[:, None])
    pts[..., 1] = y0[:, None] + t[None]
    pts[..., 2] = r.uniform(-0.1, 0.1, (n, 1))
    return pts


def stage_table() -> np.ndarray:
    """``(len(MELANIN), len(REDNESS), 3)`` uint8 sRGB: the median colour of a head's hair on the stage (see the
    module)."""
    from headforge.addon.conversion import hair_curves, to_blender
    from headforge.addon.nodes import shader_material
    from headforge.addon.stage import stage_head
    from headforge.core import load_face_model
    from headforge.core.hair import hair_strands, strand_radii
    from headforge.core.hairstyle import PhotoHair

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    model = load_face_model()
    v = model.neutral
    me = bpy.data.meshes.new("head")
    me.from_pydata(to_blender(v).tolist(), [], model.triangles.tolist())
    head = bpy.data.objects.new("head", me)
    scene.collection.objects.link(head)
    hold, _ = shader_material("held out", "ShaderNodeHoldout")
    head.data.materials.append(hold)
    hair = PhotoHair("medium", 12.0, False, 0.0, (0, 0, 0), 0.5, 0.0, 1.0, volume_cm=1.5)
    strands = hair_strands(model, v, hair.generator())
    obj = bpy.data.objects.new("hair", hair_curves("hair", strands, strand_radii(strands.shape[1])))
    scene.collection.objects.link(obj)
    mat, bsdf = shader_material("hair", "ShaderNodeBsdfHairPrincipled")
    bsdf.parametrization = "MELANIN"
    bsdf.inputs["Roughness"].default_value = 0.35
    obj.data.materials.append(mat)
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    cam.data.lens = 85.0
    cam.location = (0.0, -1.0, 0.05)   # 1 m in front of the face (model z = Blender -y), a little above
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    stage_head(head, cam, scene)
    scene.cycles.device, scene.cycles.samples = "CPU", 16
    scene.render.resolution_x = scene.render.resolution_y = 96
    scene.render.film_transparent = True
    return _render_table(scene, bsdf)


def _render_table(scene, bsdf) -> np.ndarray:
    """Render ``scene`` at every melanin and redness of ``bsdf``: the median sRGB of the opaque pixels."""
    table = np.zeros((len(MELANIN), len(REDNESS), 3), int)
    with tempfile.TemporaryDirectory() as tmp:
        for i, m in enumerate(MELANIN):
            for j, red in enumerate(REDNESS):
                bsdf.inputs["Melanin"].default_value = float(m)
                bsdf.inputs["Melanin Redness"].default_value = float(red)
                scene.render.filepath = str(Path(tmp) / "patch.png")
                bpy.ops.render.render(write_still=True)
                img = cv2.cvtColor(cv2.imread(scene.render.filepath, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
                table[i, j] = np.median(img[img[..., 3] > 240][:, :3], 0).round()
    return table


def main() -> int:
    if "--stage" in sys.argv[1:]:
        table = stage_table()
        print("RENDERED_HAIR_SRGB = (")
        for row in table:
            print("    (" + ", ".join(str(tuple(int(c) for c in cell)) for cell in row) + "),")
        print(")")
        return 0
    from headforge.addon.conversion import hair_curves
    from headforge.addon.nodes import shader_material
    from headforge.core.hair import ROOT_RADIUS_CM

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", 32
    scene.render.resolution_x = scene.render.resolution_y = 48
    scene.render.film_transparent = True
    world = bpy.data.worlds.new("white")
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (1, 1, 1, 1)
    scene.world = world
    obj = bpy.data.objects.new("patch", hair_curves("patch", strand_patch(), ROOT_RADIUS_CM))
    scene.collection.objects.link(obj)
    mat, bsdf = shader_material("hair", "ShaderNodeBsdfHairPrincipled")
    bsdf.parametrization = "MELANIN"
    obj.data.materials.append(mat)
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    cam.data.type, cam.data.ortho_scale = "ORTHO", 0.02
    cam.location = (0.0, -0.5, 0.0)  # in front of the patch (model z = Blender -y), looking at it
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    table = _render_table(scene, bsdf)
    from headforge.core.hair import hair_srgb

    def lab(rgb):
        return cv2.cvtColor(np.asarray(rgb, np.float32)[None, None], cv2.COLOR_RGB2LAB)[0, 0]

    print("melanin | " + " | ".join(f"redness {r:.1f}: render / hair_srgb (dE)" for r in REDNESS))
    for i, m in enumerate(MELANIN):
        cells = []
        for j, red in enumerate(REDNESS):
            want = np.round(np.asarray(hair_srgb(m, red)) * 255).astype(int)
            d = np.linalg.norm(lab(table[i, j] / 255.0) - lab(want / 255.0))
            cells.append(f"{tuple(table[i, j])} / {tuple(want)} ({d:.0f})")
        print(f"{m:7.1f} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
