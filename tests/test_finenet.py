"""FineNet and fine detail: ONNX vs torch, UV resampling, the Displace modifier's scale, fallbacks."""

import warnings

import cv2
import numpy as np
import pytest

from headforge.core import detail as fine
from headforge.core.facemodel import FACE_END, LANDMARKS_68

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def finenet_file(tmp_path_factory):
    from headforge.networks.export import export_onnx
    from headforge.networks.finenet import FineNet

    torch.manual_seed(0)
    net = FineNet()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path_factory.mktemp("w") / "finenet.onnx"
    export_onnx(net, path, meta={"note": "test"})
    return net.eval(), path


def test_onnx_matches_torch(finenet_file):
    net, path = finenet_file
    x = np.random.default_rng(0).normal(size=(1, 4, fine.CROP, fine.CROP)).astype(np.float32)
    onnx_out = fine.FineNet(path).session.run(None, {"input": x})[0]
    with torch.no_grad():
        torch_out = net(torch.from_numpy(x)).numpy()
    assert np.abs(torch_out).max() > 1e-4  # a non-trivial output
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-5)  # stated tolerance: 1e-5 cm


def test_bump_lands_on_the_right_texels(avatars):
    a = avatars["astronaut"]
    H, W = a.image.shape[:2]
    nose = a.projected68[30]
    disp = np.zeros((H, W), np.float32)
    cv2.circle(disp, tuple(np.round(nose).astype(int)), 6, 0.1, -1)
    uv, mask = fine.displacement_to_uv(a.model, a.vertices, a.camera, disp, 1024, a.landmarks.points[:468])
    first = np.flatnonzero(a.model.loop_vertex == LANDMARKS_68[30])[0]
    u, v = a.model.loop_uv[first]
    ys, xs = np.nonzero(uv > 0.05)
    assert len(ys) > 100
    assert abs(xs.mean() - u * 1024) < 6 and abs(ys.mean() - (1 - v) * 1024) < 6
    assert uv.max() <= 0.1 + 1e-6 and not uv[~mask].any()
    # nothing outside the bump
    assert (uv[(np.hypot(*np.meshgrid(np.arange(1024) - u * 1024, np.arange(1024) - (1 - v) * 1024)) > 80)] == 0).all()
    nm = fine.normal_map(a.model, a.vertices, uv)
    flat = nm[~(cv2.dilate((uv > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)]
    assert np.abs(flat.astype(int) - [128, 128, 255]).max() <= 1  # flat where there is no detail


def test_missing_weights_head_without_detail(tmp_path, avatars, model):
    from headforge.core import create_avatar

    with pytest.warns(RuntimeWarning, match="without fine detail"):
        a = create_avatar(avatars["grace_hopper"].image, texture_size=1024, model=model, detail=True,
                          detail_path=tmp_path / "missing.onnx")
    assert a.detail is None and a.fit_report()["detail"] is None


def test_detail_outputs(finenet_file, avatars, model, tmp_path):
    from headforge.core import create_avatar
    from headforge.core.export import write_core_outputs

    _, path = finenet_file
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        a = create_avatar(avatars["astronaut"].image, texture_size=1024, model=model, detail=True, detail_path=path)
    assert a.detail is not None and a.detail.uv.shape == (1024, 1024) and "detail" in a.timings
    write_core_outputs(a, tmp_path)
    png = cv2.imread(str(tmp_path / "displacement.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (1024, 1024)
    info = a.fit_report()["detail"]
    back = png.astype(np.float64) / 65535 * (info["max_cm"] - info["min_cm"]) + info["min_cm"]
    np.testing.assert_allclose(back, a.detail.uv, atol=(info["max_cm"] - info["min_cm"]) / 65535 + 1e-6)
    assert cv2.imread(str(tmp_path / "normal.png")).shape == (1024, 1024, 3)


bpy = pytest.importorskip("bpy")


def test_displace_modifier_scale_and_slider(avatars):
    import headforge
    from headforge.addon.build import build_head
    from headforge.addon.detail import STRENGTH_PROP, apply_detail

    bpy.ops.wm.read_homefile(use_empty=True)
    headforge.register()
    try:
        a = avatars["astronaut"]
        made = build_head(a, name="Detail test")
        head = made["head"]
        assert not any(m.type == "DISPLACE" for m in head.modifiers)  # no FineNet weights: no detail
        uv = np.zeros((512, 512), np.float32)
        uv[:300, :300] = 0.2  # 2 mm outwards over most of the face tile
        uv[300:340, :300] = -0.1
        apply_detail(head, uv)
        head.modifiers["Detail subdivision"].levels = 0  # compare vertex for vertex

        def moved():
            bpy.context.view_layer.update()
            dg = bpy.context.evaluated_depsgraph_get()
            me = head.evaluated_get(dg).to_mesh()
            co = np.empty(len(me.vertices) * 3, np.float32)
            me.vertices.foreach_get("co", co)
            head.evaluated_get(dg).to_mesh_clear()
            base = np.empty(len(head.data.vertices) * 3, np.float32)
            head.data.vertices.foreach_get("co", base)
            return np.linalg.norm(co.reshape(-1, 3) - base.reshape(-1, 3), axis=1)

        # face vertices whose skin-atlas UV is well inside the 0.2 cm block
        lv, luv = a.model.loop_vertex, a.model.loop_uv
        inside = np.unique(lv[(luv[:, 0] * 512 < 280) & ((1 - luv[:, 1]) * 512 < 280) & (lv < FACE_END)])
        d = moved()
        assert np.median(d[inside]) == pytest.approx(0.002, rel=0.02)  # 0.2 cm = 0.002 m at strength 1
        head[STRENGTH_PROP] = 0.5
        head.update_tag()  # what the panel's slider does when it is dragged
        assert np.median(moved()[inside]) == pytest.approx(0.001, rel=0.02)
        # normal map switch: modifiers off, normal map linked
        bpy.context.view_layer.objects.active = head
        assert bpy.ops.headforge.detail_normal_map() == {"FINISHED"}
        assert not head.modifiers["Detail"].show_render and head["headforge_detail_normal_map"]
        assert np.median(moved()[inside]) < 1e-6
        assert bpy.ops.headforge.detail_normal_map() == {"FINISHED"}
        assert head.modifiers["Detail"].show_render
    finally:
        headforge.unregister()


def test_one_training_step_on_detail_renders(tmp_path):
    import subprocess
    import sys

    from headforge.networks.train_fine import train

    data = tmp_path / "renders"
    r = subprocess.run([sys.executable, "-m", "headforge", "synth", "--count", "3", "--out", str(data), "--size", "192",
                        "--shard-size", "3", "--samples", "2", "--seed", "5", "--details"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = train(data, data, out=tmp_path / "f.onnx", steps=2, batch=2, log=lambda *a: None)
    assert res["steps"] == 2 and np.isfinite(res["final_loss"])
    h = res["heldout"]
    assert h["zero_rmse_mm"] > 0 and h["highpass_rmse_mm"] <= h["zero_rmse_mm"] + 1e-9
