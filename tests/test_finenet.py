"""FineNet and fine detail without Blender: ONNX vs torch, UV resampling, displacement.png and normal.png, fallbacks."""

import warnings

import cv2
import numpy as np
import pytest
import torch

from headforge.core import detail as fine
from headforge.core.facemodel import LANDMARKS_68


@pytest.fixture(scope="module")
def finenet_file(tmp_path_factory):
    from headforge.networks.onnx_export import export_onnx
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
    x = np.random.default_rng(0).normal(size=(1, 4, fine.FINE_CROP, fine.FINE_CROP)).astype(np.float32)
    onnx_out = fine.FineNetOnnx(path).session.run(None, {"input": x})[0]
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


def test_missing_weights_head_with_the_medium_scale_only(tmp_path, avatars, model):
    from headforge.core import create_avatar

    with pytest.warns(RuntimeWarning, match="without fine detail"):
        a = create_avatar(avatars["grace_hopper"].image, texture_size=1024, model=model, detail=True,
                          detail_path=tmp_path / "missing.onnx")
    assert a.detail.fine is None and a.detail.image is None and a.detail.uv is a.detail.medium
    info = a.fit_report()["detail"]
    assert info["fine"] is None and info["medium"]["rms_mm"] > 0.05
    assert create_avatar(avatars["grace_hopper"].image, texture_size=1024, model=model, detail=False).detail is None


def test_detail_outputs(finenet_file, avatars, model, tmp_path):
    from headforge.core import create_avatar
    from headforge.core.writers import write_core_outputs

    _, path = finenet_file
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        a = create_avatar(avatars["astronaut"].image, texture_size=1024, model=model, detail=True, detail_path=path)
    assert a.detail is not None and a.detail.uv.shape == (1024, 1024) and "detail" in a.timings
    # FineNet's fine band on top of the medium scale from the shading
    np.testing.assert_allclose(a.detail.uv, a.detail.medium + a.detail.fine, atol=1e-7)
    write_core_outputs(a, tmp_path)
    png = cv2.imread(str(tmp_path / "displacement.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (1024, 1024)
    info = a.fit_report()["detail"]
    back = png.astype(np.float64) / 65535 * (info["max_cm"] - info["min_cm"]) + info["min_cm"]
    np.testing.assert_allclose(back, a.detail.uv, atol=(info["max_cm"] - info["min_cm"]) / 65535 + 1e-6)
    assert cv2.imread(str(tmp_path / "normal.png")).shape == (1024, 1024, 3)
    assert info["fine"]["from"] == "FineNet" and info["medium"]["rms_mm"] > 0.05


def test_combine_keeps_finenets_fine_band_only(avatars):
    """FineNet's broad relief is the medium scale the shading gives: combine keeps what is finer than
    FINE_BAND_CM (a ripple 9 texels long) and drops a bump 2.5 cm across."""
    a = avatars["astronaut"]
    yy, xx = np.mgrid[:1024, :1024].astype(np.float32)
    bump = 0.05 * np.exp(-((xx - 300) ** 2 + (yy - 300) ** 2) / (2 * 60.0 ** 2))
    ripple = 0.005 * np.sin(xx / 1.5)
    medium, seen = np.full((1024, 1024), 0.01, np.float32), np.zeros((1024, 1024), bool)
    d = fine.combine(a.model, a.vertices, medium, seen, ((bump + ripple).astype(np.float32), seen, None))
    near = (slice(200, 400),) * 2
    assert np.abs(d.fine[near] - ripple[near]).max() < 0.1 * 0.005
    np.testing.assert_allclose(d.uv, medium + d.fine)
