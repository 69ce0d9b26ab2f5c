"""Synthetic training set in Blender: labels against real (tiny) Cycles renders, the CLI on Dask."""

import json
import subprocess
import sys

import bpy
import numpy as np
import pytest

from headforge.core import synth as S


@pytest.mark.parametrize("version", [1, 2, 3])
def test_labels_agree_with_cycles(model, tmp_path, version):
    """Tiny real renders with a transparent film: the label mask (with the hair of set versions 2 and 3) matches
    Cycles' alpha, visible landmarks land on the rendered head or hair, and the depth map agrees with the
    mesh."""
    import cv2

    from headforge.addon.synth_scene import SynthScene
    from headforge.core.correspondence import load_correspondence

    corr = load_correspondence(model)
    cfg = S.SynthConfig(count=3, size=64, samples=2, version=version)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = SynthScene(model, cfg)
    scene.scene.render.film_transparent = True
    scene.scene.render.image_settings.color_mode = "RGBA"

    def wanted(p):  # the HDRI as background (a backdrop plane would be opaque in the alpha); v2: with hair
        return p["background"]["kind"] == "hdri" and (version == 1 or p["hair"]["style"] not in ("bald", "shaved"))

    picked = [i for i in range(60) if wanted(S.sample_params(cfg, i, model))][:3]
    assert len(picked) == 3
    for i in picked:
        p = S.sample_params(cfg, i, model)
        verts, cam, lab = S.labels_for(model, corr, p, cfg.size)
        path = tmp_path / f"{i}.png"
        scene.render(p, verts, cam, path)
        if version >= 2:
            assert scene.coverage["hair"].sum() > 20
            lab = S.with_coverage(lab, scene.coverage)
            assert (lab["mask"] == S.MASK_HAIR).sum() == scene.coverage["hair"].sum()
        else:
            assert scene.coverage is None
        rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        alpha = rgba[:, :, 3] > 127
        mask = lab["mask"] > 0
        iou = (alpha & mask).sum() / (alpha | mask).sum()
        assert iou > 0.85, iou
        vis = lab["lm68_visible"]
        px = np.clip(np.round(lab["lm68"][vis]).astype(int), 0, cfg.size - 1)
        assert alpha[px[:, 1], px[:, 0]].mean() > 0.95
        z = cam.to_camera(verts[S.LANDMARKS_68])[:, 2]
        d = lab["depth"][px[:, 1], px[:, 0]]
        assert np.median(np.abs(d - z[vis])) < 0.5  # cm
    bpy.data.scenes.remove(scene.scene)


def test_accessories_and_clothes_in_cycles_and_in_the_labels(model, tmp_path):
    """Set versions 4 and 5 in tiny real renders: a hat and a hand show (the renderer's coverage, labelled
    "other"), the hat keeps the hair under it, the landmarks behind a held thing are not visible, and the
    clothes show below the neck, labelled as clothes."""
    from headforge.addon.synth_scene import SynthScene
    from headforge.core.correspondence import load_correspondence

    corr = load_correspondence(model)
    cfg = S.SynthConfig(count=300, size=96, samples=2, version=5)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = SynthScene(model, cfg)
    params = [S.sample_params(cfg, i, model) for i in range(300)]
    hat = next(p for p in params if p["accessories"]["hat"] and p["hair"]["style"] in ("medium", "long")
               and abs(p["yaw"]) < 30)
    held = next(p for p in params if p["accessories"]["occluder"] and p["accessories"]["occluder"]["kind"] == "hand"
                and abs(p["yaw"]) < 30)
    dressed = next(p for p in params if p["face_frac"] < 0.42 and abs(p["yaw"]) < 30 and abs(p["pitch"]) < 15)
    for p, name in ((hat, "hat"), (held, "occluder"), (dressed, "clothes")):
        verts, cam, lab = S.labels_for(model, corr, p, cfg.size)
        scene.render(p, verts, cam, tmp_path / f"{name}.png")
        assert scene.coverage[name].sum() > 50, name
        out = S.with_coverage(lab, scene.coverage)
        assert (out["mask"] == S.COVER_MASKS[name]).sum() >= scene.coverage[name].sum()
        if name == "hat":
            assert scene.coverage["hair"].sum() > 20   # long hair shows below the hat
            assert scene.coverage[name].sum() > 0.5 * scene.coverage["hair"].sum()
        elif name == "occluder":
            assert out["lm68_visible"].sum() < lab["lm68_visible"].sum()
        assert (out["mask"] == S.MASK_CLOTHES).sum() == scene.coverage.get("clothes", np.zeros(1)).sum()
    bpy.data.scenes.remove(scene.scene)


def test_version_6_eyes_in_cycles(model, tmp_path):
    """Set version 6 paints the eyes and nothing else: in a tiny real render the eyes' pixels change from version
    5's, the rest of the picture hardly, and a wider pupil darkens them."""
    import cv2

    from headforge.addon.synth_scene import SynthScene
    from headforge.core.correspondence import load_correspondence

    corr = load_correspondence(model)
    v5, v6 = (S.SynthConfig(count=200, size=160, samples=2, version=v) for v in (5, 6))
    params = [S.sample_params(v6, i, model) for i in range(200)]
    lids = [model.expression_index(n) for n in model.expression_names if n.startswith("eye")]
    face = next(p for p in params if p["face_frac"] > 0.5 and abs(p["yaw"]) < 15 and abs(p["pitch"]) < 10
                and p["expression"][lids].max() < 0.05 and not p["accessories"]["occluder"] and p["glasses"] is None)
    narrow = dict(face, eyes=dict(face["eyes"], pupil_uv_radius=0.015))
    wide = dict(face, eyes=dict(face["eyes"], pupil_uv_radius=0.06))
    shots = {}
    for cfg, todo in ((v5, {"v5": S.sample_params(v5, face["index"], model)}),
                      (v6, {"first": wide, "narrow": narrow, "wide": wide})):
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = SynthScene(model, cfg)
        for name, p in todo.items():
            verts, cam, lab = S.labels_for(model, corr, p, cfg.size)
            scene.render(p, verts, cam, tmp_path / f"{name}.png")
            shots[name] = cv2.imread(str(tmp_path / f"{name}.png")).astype(float)
        bpy.data.scenes.remove(scene.scene)
    eyes = S.labels_for(model, corr, face, v6.size)[2]["mask"] == S.MASK_EYES
    assert eyes.sum() > 30
    change = np.abs(shots["first"] - shots["v5"]).mean(2)   # each the first render of its scene
    assert change[eyes].mean() > 5 * max(change[~eyes].mean(), 0.2)
    # at 2 samples a scene's first render, before any coverage pass, differs a little from later ones
    darker = (shots["narrow"] - shots["wide"]).mean(2)
    assert darker[eyes].mean() > 5 * max(np.abs(darker[~eyes]).mean(), 0.2)


def test_albedo_pass_shows_the_skin_without_light(model, tmp_path):
    """``SynthScene.render_albedo``: a tiny real render of the skin's own colour as the camera sees it. Its alpha
    is the skin (the labels' face and head, hair and all in front of them left out), its colour the person's
    skin tone wherever the light fell, and the scene renders as before afterwards."""
    import cv2

    from headforge.addon.synth_scene import SynthScene
    from headforge.core.correspondence import load_correspondence

    corr = load_correspondence(model)
    cfg = S.SynthConfig(count=60, size=96, samples=2, version=5, albedo=True)
    p = next(q for q in (S.sample_params(cfg, i, model) for i in range(60))
             if abs(q["yaw"]) < 20 and q["face_frac"] > 0.4 and q["glasses"] is None
             and not q["accessories"]["occluder"] and q["hair"]["beard"]["style"] == "none")
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = SynthScene(model, cfg)
    verts, cam, lab = S.labels_for(model, corr, p, cfg.size)
    scene.render(p, verts, cam, tmp_path / "lit.png")
    materials = list(scene.head.data.materials)
    scene.render_albedo(tmp_path / "albedo.png")
    rgba = cv2.imread(str(tmp_path / "albedo.png"), cv2.IMREAD_UNCHANGED)[:, :, [2, 1, 0, 3]]
    skin = np.isin(lab["mask"], (S.MASK_FACE, S.MASK_HEAD))
    alpha = rgba[:, :, 3] > 127
    iou = (alpha & skin).sum() / (alpha | skin).sum()
    lit = cv2.imread(str(tmp_path / "lit.png"))[:, :, ::-1].astype(np.float32)
    face = cv2.erode((lab["mask"] == S.MASK_FACE).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    tone = np.asarray(p["appearance"]["skin_srgb"], np.float32) * 255
    albedo, shaded = (np.median(img[face], axis=0) for img in (rgba[:, :, :3].astype(np.float32), lit))
    print(f"skin IoU {iou:.2f}; over the face the albedo's median {albedo}, the render's {shaded}, the person's "
          f"tone {tone}")
    assert iou > 0.9
    assert np.abs(albedo - tone).max() < 12 < np.abs(shaded - tone).max()
    # the scene is as it was: its materials, the skin's shader, what covers the head
    assert list(scene.head.data.materials) == materials
    out = next(n for n in scene.skin.node_tree.nodes if n.type == "OUTPUT_MATERIAL")
    assert out.inputs["Surface"].links[0].from_node == scene.bsdf
    assert not any(o.hide_render for o in scene.cover.values())
    bpy.data.scenes.remove(scene.scene)


def _exr(path) -> np.ndarray:
    """(H, W, 3) float32: an OpenEXR image as Blender reads it, top row first."""
    img = bpy.data.images.load(str(path))
    w, h = img.size
    px = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(px)
    bpy.data.images.remove(img)
    return px.reshape(h, w, 4)[::-1, :, :3]


def test_shading_pass_shows_the_light_without_the_skin(model, tmp_path):
    """``SynthScene.render_shading``: a tiny real render of the light on the skin (the skin white). It is
    scene-linear (the view's exposure does not change it), and the skin's albedo times it is the render before
    its view transform (set version 1: no camera effects); the scene renders as before afterwards."""
    import cv2

    from headforge.addon.synth_scene import SynthScene
    from headforge.core.correspondence import load_correspondence
    from headforge.core.image import srgb_to_linear

    corr = load_correspondence(model)
    cfg = S.SynthConfig(count=60, size=96, samples=8, version=1, albedo=True, shading=True)
    p = next(q for q in (S.sample_params(cfg, i, model) for i in range(60))
             if abs(q["yaw"]) < 20 and q["face_frac"] > 0.4)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = SynthScene(model, cfg)
    verts, cam, lab = S.labels_for(model, corr, p, cfg.size)
    fmt = scene.scene.render.image_settings
    formats = fmt.file_format, fmt.color_depth
    fmt.file_format, fmt.color_depth = "OPEN_EXR", "32"  # the render itself, scene-linear
    scene.render(p, verts, cam, tmp_path / "lit.exr")
    fmt.file_format, fmt.color_depth = formats
    dof = scene.cam_data.dof.use_dof
    scene.render_albedo(tmp_path / "albedo.png")
    scene.render_shading(tmp_path / "shading.exr")
    shading = _exr(tmp_path / "shading.exr")
    view = scene.scene.view_settings
    view.exposure += 2.0
    scene.render_shading(tmp_path / "brighter view.exr")
    view.exposure -= 2.0
    np.testing.assert_allclose(_exr(tmp_path / "brighter view.exr"), shading, atol=1e-3)

    face = cv2.erode((lab["mask"] == S.MASK_FACE).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    albedo = srgb_to_linear(cv2.imread(str(tmp_path / "albedo.png"))[:, :, ::-1].astype(np.float32) / 255)
    lit, product = _exr(tmp_path / "lit.exr")[face], (albedo * shading)[face]
    ratio = np.median(lit, 0) / np.median(product, 0)
    agree = np.corrcoef(lit.ravel(), product.ravel())[0, 1]
    print(f"over the face: render / (albedo x shading) {ratio}, correlation {agree:.3f}")
    assert np.all(np.abs(ratio - 1) < 0.2) and agree > 0.9
    # the scene is as it was: the skin's colour nodes, the camera's depth of field, the file format
    base = scene.bsdf.inputs["Base Color"]
    assert base.links and base.links[0].from_node == scene.skin_colour
    assert scene.cam_data.dof.use_dof == dof and (fmt.file_format, fmt.color_depth) == formats
    bpy.data.scenes.remove(scene.scene)


def _synth(out, *extra, timeout=600, env=None):
    return subprocess.run([sys.executable, "-m", "headforge", "synth", "--out", str(out), *map(str, extra)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_shards_leave_no_temporary_blender_folders(tmp_path):
    """Each shard's process gets its own Blender user folder, removed when the shard ends."""
    import os

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "BLENDER_USER_RESOURCES"}
    env["TMPDIR"] = str(tmp)
    r = _synth(tmp_path / "s", "--count", 2, "--size", 32, "--shard-size", 1, "--samples", 2, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not list(tmp.glob("headforge-blender-*"))


def test_synth_on_dask_is_deterministic_and_resumes(tmp_path):
    from headforge.networks.dataset import SynthSet

    args = ("--count", 4, "--size", 32, "--shard-size", 2, "--samples", 2, "--seed", 3)
    a = tmp_path / "a"
    r = _synth(a, *args, "--workers", 2)  # a LocalCluster with 2 workers renders the 2 shards
    assert r.returncode == 0, r.stderr[-3000:]
    man = json.loads((a / "manifest.json").read_text())
    assert man["shards"] == {"0": "done", "1": "done"} and man["images_done"] == 4
    ds = SynthSet(a)
    assert len(ds) == 4 and ds[3]["image"].shape == (32, 32, 3) and ds[3]["lm68"].shape == (68, 2)
    # the first samples of a bigger set, in whole shards
    assert len(SynthSet(a, limit=2)) == 2 and len(SynthSet(a, limit=3)) == 4
    np.testing.assert_array_equal(SynthSet(a, limit=2)[1]["image"], ds[1]["image"])
    # ... and the rest after a skip, in whole shards (one set trains CoarseNet, its first renders the ridge)
    assert len(SynthSet(a, skip=2)) == 2 and len(SynthSet(a, skip=3)) == 2 and len(SynthSet(a, limit=2, skip=2)) == 0
    np.testing.assert_array_equal(SynthSet(a, skip=2)[0]["image"], ds[2]["image"])

    # same seed, same set
    b = tmp_path / "b"
    assert _synth(b, *args).returncode == 0
    for k in (0, 1):
        za = np.load(a / "shards" / f"shard_{k:05d}" / "labels.npz")
        zb = np.load(b / "shards" / f"shard_{k:05d}" / "labels.npz")
        for key in za.files:
            np.testing.assert_array_equal(za[key], zb[key])
    ia, ib = SynthSet(a)[0]["image"].astype(int), SynthSet(b)[0]["image"].astype(int)
    assert np.abs(ia - ib).max() <= 3

    # resume: delete one shard and break another's labels; only those are rendered again
    import shutil

    keep = a / "shards" / "shard_00000" / "meta.json"
    t_keep = keep.stat().st_mtime_ns
    shutil.rmtree(a / "shards" / "shard_00001")
    r = _synth(a, *args)
    assert r.returncode == 0 and "1 shards rendered, 1 already done" in r.stdout, r.stdout + r.stderr[-2000:]
    assert keep.stat().st_mtime_ns == t_keep
    (a / "shards" / "shard_00000" / "labels.npz").write_bytes(b"broken")
    r = _synth(a, *args)
    assert "1 shards rendered, 1 already done" in r.stdout
    assert len(SynthSet(a)) == 4
    labels = a / "shards" / "shard_00001" / "labels.npz"   # cut short: a real zip without its end
    labels.write_bytes(labels.read_bytes()[: labels.stat().st_size // 2])
    r = _synth(a, *args)
    assert "1 shards rendered, 1 already done" in r.stdout and "Traceback" not in r.stderr, r.stderr[-2000:]

    # another count: a bigger one extends the set, a smaller one asks for its first renders only
    grow = list(args)
    grow[1] = 6
    r = _synth(a, *grow)
    assert r.returncode == 0 and "1 shards rendered, 2 already done" in r.stdout, r.stdout + r.stderr[-2000:]
    assert len(SynthSet(a)) == 6 and json.loads((a / "manifest.json").read_text())["config"]["count"] == 6
    np.testing.assert_array_equal(SynthSet(a)[1]["image"], ds[1]["image"])
    shutil.rmtree(a / "shards" / "shard_00002")
    small = list(args)
    small[1] = 3
    r = _synth(a, *small)
    assert r.returncode == 0 and "0 shards rendered, 2 already done" in r.stdout, r.stdout + r.stderr[-2000:]
    assert json.loads((a / "manifest.json").read_text())["config"]["count"] == 6


def test_details_labels(tmp_path):
    from headforge.networks.dataset import SynthSet

    out = tmp_path / "d"
    r = _synth(out, "--count", 2, "--size", 48, "--shard-size", 2, "--samples", 2, "--details", "--albedo",
               "--shading")
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    import cv2

    albedo = cv2.imread(str(S.shard_path(out, 0) / S.albedo_name(1)), cv2.IMREAD_UNCHANGED)
    assert albedo.shape == (48, 48, 4) and albedo[:, :, 3].max() == 255 and albedo[:, :, 3].min() == 0
    shading = _exr(S.shard_path(out, 0) / S.shading_name(1))
    assert shading.shape == (48, 48, 3) and shading.max() > 0
    cfg = S.SynthConfig.from_dict(json.loads((out / "manifest.json").read_text())["config"])
    assert cfg.shading and S.shard_ok(out, cfg, 0)
    s = SynthSet(out)[1]
    assert s["detail_uv"].shape == (1024, 1024) and s["detail_uv"].min() < -0.005
    face = s["mask"] == S.MASK_FACE
    assert (s["disp_image"][face] < 0).mean() > 0.3 and not s["disp_image"][s["mask"] == 0].any()
    (S.shard_path(out, 0) / S.shading_name(0)).unlink()  # a shard without a shading image is not done
    assert not S.shard_ok(out, cfg, 0)


def test_bad_arguments(tmp_path):
    r = _synth(tmp_path / "x", "--count", 0)
    assert r.returncode == 1 and "at least 1" in r.stderr
    f = tmp_path / "file"
    f.write_text("x")
    r = _synth(f, "--count", 2)
    assert r.returncode == 1 and "is a file" in r.stderr
    r = _synth(tmp_path / "y", "--count", 2, "--scheduler", "tcp://127.0.0.1:9")  # bounded by _synth's timeout
    assert r.returncode == 1 and "Cannot reach the Dask scheduler" in r.stderr and "Traceback" not in r.stderr
    r = _synth(tmp_path / "y", "--count", 3, "--scheduler", "tcp://127.0.0.1:9")
    assert r.returncode == 1 and "partial shard" in r.stderr
    r = _synth(tmp_path / "y", "--count", 2, "--size", 64, "--scheduler", "tcp://127.0.0.1:9")
    assert r.returncode == 1 and "other settings (size differ)" in r.stderr
    # arguments are checked before anything is written
    for bad, says in ((("--seed", -1), "--seed"), (("--samples", 0), "--samples"), (("--workers", 0), "--workers")):
        r = _synth(tmp_path / "z", "--count", 2, *bad)
        assert r.returncode == 1 and says in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "z").exists()
    (tmp_path / "y" / "manifest.json").write_text("null")
    r = _synth(tmp_path / "y", "--count", 2)
    assert r.returncode == 1 and "damaged" in r.stderr and "Traceback" not in r.stderr


def test_preview_operator(tmp_path):
    import headforge

    bpy.ops.wm.read_homefile(use_empty=True)
    headforge.register()
    try:
        n_scenes = len(bpy.data.scenes)
        assert bpy.ops.headforge.synth_preview(count=2, size=32, directory=str(tmp_path)) == {"FINISHED"}
        assert (tmp_path / "00000001.png").exists() and (tmp_path / "contact_sheet.png").exists()
        assert "Headforge synth preview" in bpy.data.images and len(bpy.data.scenes) == n_scenes
    finally:
        headforge.unregister()
