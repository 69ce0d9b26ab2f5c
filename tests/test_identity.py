"""The identity guess from the face descriptor beside CoarseNet (``core.identity``, ``networks.learn_identity``):
the shipped ridge is used on real photos, is refused beside another CoarseNet, and is learned from real renders."""

import dataclasses
import warnings

import numpy as np
import pytest


def test_shipped_ridge_refines_the_identity_on_a_real_photo(shipped_weights, astronaut_rgb, model):
    from headforge.core import identity, regress
    from headforge.core.descriptor import face_descriptor
    from headforge.core.landmarks import detect_landmarks
    from headforge.core.pipeline import fit_photo

    ridge = identity.load()
    assert ridge.matches(regress.WEIGHTS), "the shipped ridge was learned beside another CoarseNet"
    cv = ridge.meta["cv_face_error_mm"]
    assert cv["ridge"] < cv["coarsenet"] < cv["mean face"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shape = fit_photo(astronaut_rgb, model)
    assert shape.initializer == "coarsenet+descriptor" and "descriptor" in shape.timings
    plain = fit_photo(astronaut_rgb, model, descriptor=False)
    assert plain.initializer == "coarsenet" and "descriptor" not in plain.timings
    lm = detect_landmarks(astronaut_rgb)
    coarse = regress.load().predict(astronaut_rgb, lm.points, model).identity
    guess = ridge.predict(face_descriptor(astronaut_rgb, lm.points), coarse)
    moved = np.linalg.norm(model.vertices(guess) - model.vertices(coarse), axis=1).mean() * 10
    print(f"the descriptor moves CoarseNet's guess by {moved:.2f} mm on average")
    assert guess.shape == (100,) and np.isfinite(guess).all() and moved > 0.05
    # the fitted identities differ where the guesses (their priors' centres) do
    assert not np.allclose(shape.fit.identity, plain.fit.identity)


def test_the_guess_of_a_mirrored_photo_is_the_mirrored_guess(shipped_weights, model, photo_files):
    """Grace Hopper and her mirror image: the descriptor barely changes, so the ridge alone gives nearly one
    identity to both, where the mirrored face needs the mirrored identity. The refined guess is mirror-consistent:
    the mirrored photo's guess, mirrored back, is the photo's to within what CoarseNet and the descriptor move."""
    from headforge.core import identity, regress
    from headforge.core.correspondence import aligned_distance
    from headforge.core.descriptor import face_descriptor
    from headforge.core.facemodel import FACE_END
    from headforge.core.image import load_image
    from headforge.core.landmarks import detect_landmarks

    img = load_image(photo_files["grace_hopper"])
    flip = np.array([-1.0, 1.0, 1.0])
    ridge = identity.load()
    heads = {"ridge": [], "refined": []}
    for photo in (img, np.ascontiguousarray(img[:, ::-1])):
        lm = detect_landmarks(photo)
        coarse = regress.load().predict(photo, lm.points, model).identity
        desc = face_descriptor(photo, lm.points)
        heads["ridge"].append(model.vertices(ridge.predict(desc, coarse)))
        heads["refined"].append(model.vertices(identity.refine(desc, coarse, regress.WEIGHTS, model=model)))
    apart = {k: aligned_distance(a[:FACE_END], (b[model.mirror] * flip)[:FACE_END]) * 10
             for k, (a, b) in heads.items()}
    print(f"mirrored photo's guess from the photo's, mm: {apart}")
    assert apart["refined"] < 0.6 * apart["ridge"]   # measured 0.21 against 0.52 mm


def test_ridge_beside_another_coarsenet_or_damaged_is_not_used(tmp_path, shipped_weights, astronaut_rgb, model):
    from headforge.core import identity, regress
    from headforge.core.descriptor import face_descriptor
    from headforge.core.errors import DescriptorUnavailable
    from headforge.core.landmarks import detect_landmarks

    lm = detect_landmarks(astronaut_rgb)
    other = dataclasses.replace(identity.load(), coarsenet_sha256="0" * 64).save(tmp_path / "other.npz")
    with pytest.raises(DescriptorUnavailable, match="another CoarseNet.*make train-identity"):
        identity.refine(face_descriptor(astronaut_rgb, lm.points), np.zeros(100), regress.WEIGHTS, other)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a ridge")
    with pytest.raises(DescriptorUnavailable, match="cannot be read"):
        identity.refine(face_descriptor(astronaut_rgb, lm.points), np.zeros(100), regress.WEIGHTS, bad)


def test_learner_reads_real_renders_and_learns_a_ridge(frontal_renders, model, tmp_path, capsys):
    from headforge.core import identity, regress
    from headforge.networks import learn_identity as li
    from headforge.core.descriptor import face_descriptor
    from headforge.networks.dataset import SynthSet, detections, shard_path

    data = li.load_features([str(frontal_renders)], None, log=None)
    n = len(data["truth"])
    assert n >= 10 and data["descriptor"].shape == (n, 128) and data["coarse"].shape == (n, 100)
    ds = SynthSet(frontal_renders)
    points, found = detections(ds)
    first = int(np.flatnonzero(found)[0])   # the features are what the product computes on that render
    img = ds.image(first)
    np.testing.assert_allclose(data["descriptor"][0], face_descriptor(img, points[first]), atol=1e-6)
    pred = regress.load().predict(img, points[first], model)
    np.testing.assert_allclose(data["coarse"][0], pred.identity, atol=1e-5)
    np.testing.assert_allclose(data["coarse_expression"][0], pred.expression, atol=1e-5)
    truth = ds.labels(["identity", "expression"])
    np.testing.assert_array_equal(data["truth"][0], truth["identity"][first])
    np.testing.assert_array_equal(data["truth_expression"][0], truth["expression"][first])
    cache = shard_path(ds.root, ds.shards[0]) / li.FEATURES_FILE
    stamp = cache.stat().st_mtime_ns
    again = li.load_features([str(frontal_renders)], None, log=None)
    assert cache.stat().st_mtime_ns == stamp and np.array_equal(again["descriptor"], data["descriptor"])

    ridge, cv = li.learn(data, model, identity.file_sha256(regress.WEIGHTS))
    assert set(cv["ridge"]) == {(p, s) for p in li.PENALTIES for s in li.COARSE_SCALES}
    assert all(np.isfinite(v) and v > 0 for v in cv["ridge"].values())
    assert ridge.meta["cv_face_error_mm"]["ridge"] == round(min(cv["ridge"].values()) * 10, 4)
    out = ridge.save(tmp_path / "ridge.npz")
    back = identity.IdentityRidge.read(out)
    np.testing.assert_allclose(back.predict(data["descriptor"], data["coarse"]),
                               ridge.predict(data["descriptor"], data["coarse"]), atol=1e-5)
    with pytest.raises(SystemExit, match="at least 50"):
        li.main(["--train", str(frontal_renders), "--out", str(tmp_path / "few.npz")])
    assert not (tmp_path / "few.npz").exists()
