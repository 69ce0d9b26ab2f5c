"""Fine detail on a Blender head: the Displace modifier's scale, the strength slider, the normal-map switch."""

import bpy
import numpy as np
import pytest

from headforge.core.facemodel import FACE_END


def test_displace_modifier_scale_and_slider(avatars):
    import headforge
    from headforge.addon import schema
    from headforge.addon.build import build_head
    from headforge.addon.detail import apply_detail

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
        head[schema.DETAIL_STRENGTH] = 0.5
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
