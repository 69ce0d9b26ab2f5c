"""LandmarkNet, the model's own points and the head's outline: the shipped network finds them better than MediaPipe
on renders it never saw, the fit follows its jawline (and its inner points when asked), fit.json records them,
training works on real (tiny) renders, and a missing or mismatched network falls back to MediaPipe's points with a
warning."""

import json
import warnings

import numpy as np
import pytest
import torch

from headforge.core import modellandmarks


@pytest.fixture(scope="module")
def frontal_samples(frontal_renders):
    from headforge.networks.dataset import SynthSet
    from headforge.networks.train_landmarks import LandmarkSamples

    return LandmarkSamples([SynthSet(frontal_renders)], augment=False)


def test_true_targets_are_the_labelled_projection(frontal_renders, frontal_samples, model):
    """The training truth is projected as the synthetic set projects its own 68-landmark labels (checked
    against Cycles in test_synth_render): the inner 51 landmark vertices as barycentric points agree."""
    from dataclasses import replace

    from headforge.networks.dataset import SynthSet

    lab = SynthSet(frontal_renders).labels(["lm68", "identity", "expression", "K", "R", "t"])
    inner = model.landmarks68[17:].astype(np.int32)
    as_points = replace(frontal_samples.corr, ict_vertices=np.repeat(inner[:, None], 3, 1),
                        ict_bary=np.tile(np.float32([1, 0, 0]), (len(inner), 1)))
    for n in range(len(lab["K"])):
        verts = model.vertices(lab["identity"][n], lab["expression"][n]).astype(np.float64)
        uv, _ = modellandmarks.true_targets(as_points, verts, lab["K"][n].astype(np.float64),
                                            lab["R"][n].astype(np.float64), lab["t"][n].astype(np.float64))
        np.testing.assert_allclose(uv, lab["lm68"][n][17:], atol=0.05)
    # the true points of the surface facing the camera lie, on a typical render, within a few percent of the
    # eye distance of MediaPipe's (the same image frame)
    medians, k = [], len(frontal_samples.corr.mp_index)
    for n in range(len(frontal_samples)):
        uv, seen = frontal_samples.targets[n][:k], frontal_samples.facing[n] > 0.3
        assert seen.sum() > 100
        eye = np.linalg.norm(frontal_samples.points[n][33] - frontal_samples.points[n][263])
        medians.append(np.median(np.linalg.norm(uv - frontal_samples.points[n][frontal_samples.corr.mp_index],
                                                axis=1)[seen]) / eye)
    assert np.median(medians) < 0.06


def test_shipped_network_beats_mediapipe_on_unseen_renders(frontal_samples):
    from headforge.networks.train_landmarks import evaluate

    assert modellandmarks.WEIGHTS.exists(), "core/weights/landmarknet.onnx is missing"
    res = evaluate(modellandmarks.WEIGHTS, frontal_samples)
    print(res)
    assert res["images"] >= 10
    assert res["landmarknet_mean"] < 0.85 * res["mediapipe_mean"]
    # the sigmas mean something: the truth lies within one sigma for some, not all, points
    assert 0.15 < res["within_sigma"] < 0.9


def test_training_exports_and_resumes(frontal_renders, tmp_path, model):
    from headforge.core.correspondence import load_correspondence
    from headforge.networks import train_landmarks as tl

    ck, out = tmp_path / "lm.pt", tmp_path / "lm.onnx"
    tl.main(["--train", str(frontal_renders), "--out", str(out), "--steps", "3", "--batch", "4", "--width", "8",
             "--checkpoint", str(ck)])
    assert torch.load(ck, weights_only=False)["step"] == 3
    r = tl.train([str(frontal_renders)], out=out, steps=5, batch=4, width=8, checkpoint=ck, log=lambda s: None)
    assert torch.load(ck, weights_only=False)["step"] == 5 and r["train_images"] >= 10
    net = modellandmarks.LandmarkNetOnnx(out)
    assert net.matches(load_correspondence(model))
    with pytest.raises(SystemExit, match="No usable renders|not a Headforge"):
        tl.main(["--train", str(tmp_path), "--out", str(out)])


def test_fit_follows_the_model_points(model, astronaut_rgb):
    from headforge.core.correspondence import load_correspondence
    from headforge.core.fit import fit_landmarks
    from headforge.core.pipeline import fit_photo

    corr = load_correspondence(model)
    plain = fit_photo(astronaut_rgb, model, landmarknet=False)
    shape = fit_photo(astronaut_rgb, model, landmarknet=True)
    assert plain.model_points is None and shape.model_points is not None
    mp = shape.model_points
    corr_pts = plain.landmarks.points[mp.mp_index]
    # by default the inner points are MediaPipe's (FOLLOW_INNER_POINTS), weighted by the network's sigma
    np.testing.assert_array_equal(mp.points, corr_pts)
    assert np.all(mp.sigma > 0) and np.isfinite(mp.sigma).all()
    # asked for, the network's inner points move MediaPipe's, and a fit to them lands nearer them
    inner = modellandmarks.load().find(astronaut_rgb, plain.landmarks.points, corr, inner=True)
    moved = np.linalg.norm(inner.points - corr_pts, axis=1) / plain.landmarks.eye_distance
    assert np.median(moved) > 0.005
    fit = fit_landmarks(model, corr, plain.landmarks.points, plain.landmarks.image_size, model_points=inner)
    seen = fit.landmark_visibility > 0.5
    uv = fit.camera.project(modellandmarks.surface_points(corr, fit.vertices.astype(np.float64)))
    assert np.linalg.norm(uv - inner.points, axis=1)[seen].mean() < np.linalg.norm(uv - corr_pts, axis=1)[seen].mean()
    # the jawline too: the fit's silhouette points sit nearer the network's jawline than MediaPipe's face oval
    oval = plain.detected68[:17]
    fitted = shape.projected68[:17]
    side = shape.fit.contour_weights > 0.5
    assert mp.contour is not None and side.sum() >= 8
    assert np.linalg.norm(fitted - mp.contour, axis=1)[side].mean() < np.linalg.norm(fitted - oval, axis=1)[side].mean()


def test_mirrored_photo_gets_the_mirrored_jawline(model, astronaut_rgb):
    """With the mirrored crop averaged in (as CoarseNet does), a photo and its mirror image get the same model
    points and jawline, mirrored, and the same sigmas; one run alone does not."""
    from headforge.core.correspondence import load_correspondence
    from headforge.core.landmarks import detect_landmarks

    corr, net = load_correspondence(model), modellandmarks.load()
    w, mirror = astronaut_rgb.shape[1], astronaut_rgb[:, ::-1].copy()
    lm, lm_m = detect_landmarks(astronaut_rgb), detect_landmarks(mirror)
    order = net.mirror_order
    assert sorted(order) == list(range(len(order)))   # every output's mirror image is an output
    gaps = {}
    for flip in (False, True):
        a, sa = net.predict(astronaut_rgb, lm.points, corr, flip=flip)
        b, sb = net.predict(mirror, lm_m.points, corr, flip=flip)
        b, sb = b[order] * [-1, 1] + [w, 0], sb[order]
        gaps[flip] = (np.linalg.norm(a - b, axis=1).mean(), np.linalg.norm(a[-17:] - b[-17:], axis=1).mean(),
                      np.abs(np.log(sa / sb)).mean())
    print("a photo and its mirror image, points / jawline (px) / log-sigma apart: one run "
          "{:.3f} / {:.3f} / {:.3f}, averaged {:.3f} / {:.3f} / {:.3f}".format(*gaps[False], *gaps[True]))
    assert gaps[True][0] < 0.2 * gaps[False][0] and gaps[True][1] < 0.3 and gaps[True][2] < 0.2 * gaps[False][2]


def test_fit_json_lists_the_model_points(avatars):
    av = next(iter(avatars.values()))
    report = json.loads(json.dumps(av.fit_report()))
    ml = report["model_landmarks"]
    assert ml["network"] == "LandmarkNet"
    assert len(ml["points"]) == len(ml["sigma_px"]) == len(ml["mediapipe_index"])
    assert len(ml["jawline"]) == len(ml["jawline_sigma_px"]) == 17


def test_missing_or_mismatched_network_falls_back_to_mediapipe(model, astronaut_rgb, tmp_path):
    from headforge.core.pipeline import fit_photo
    from headforge.networks.landmarknet import LandmarkNet
    from headforge.networks.onnx_export import export_onnx

    with pytest.warns(RuntimeWarning, match="LandmarkNet weights .* are missing"):
        s = fit_photo(astronaut_rgb, model, landmarknet=True, landmarknet_path=tmp_path / "none.onnx")
    assert s.model_points is None
    other = tmp_path / "other.onnx"
    export_onnx(LandmarkNet(10, width=8), other, meta={"mp_index": list(range(10))})
    with pytest.warns(RuntimeWarning, match="trained for other landmark correspondences"):
        s = fit_photo(astronaut_rgb, model, landmarknet=True, landmarknet_path=other)
    assert s.model_points is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert fit_photo(astronaut_rgb, model, landmarknet=False).model_points is None
