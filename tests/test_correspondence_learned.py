"""The learned MediaPipe -> ICT correspondence: the shipped file is used, and the learner lowers the image
error of the points on real renders."""

import numpy as np


def test_shipped_learned_correspondence_is_used(model):
    from headforge.core.correspondence import LEARNED, load_correspondence

    assert LEARNED.exists()
    learned = load_correspondence(model)
    geometric = load_correspondence(model, learned=None)
    np.testing.assert_array_equal(learned.mp_index, geometric.mp_index)
    np.testing.assert_array_equal(learned.jaw_t, geometric.jaw_t)
    pos = lambda c: np.einsum("kj,kjd->kd", c.ict_bary, model.neutral[c.ict_vertices])  # noqa: E731
    moved = np.linalg.norm(pos(learned) - pos(geometric), axis=1)
    print(f"learned points moved {moved.mean() * 10:.2f} mm on average, at most {moved.max() * 10:.2f} mm")
    assert 0.02 < moved.mean() and moved.max() < 1.2 + 0.5   # within the search radius (plus a triangle)
    assert np.allclose(learned.ict_bary.sum(1), 1.0, atol=1e-5) and (learned.ict_bary >= 0).all()


def test_learner_lowers_the_error_on_real_renders(tmp_path, model, frontal_renders):
    from headforge.core import config
    from headforge.core.correspondence import apply_learned, build_correspondence
    from headforge.networks import learn_correspondence as lc

    data = frontal_renders
    _, points, verts, cams = lc.load_renders([str(data)], None)
    assert len(cams) >= 10
    corr = build_correspondence(model, config.mediapipe_mesh_path())
    v, w, before, after = lc.learn_fixed(model, corr, points, verts, cams, radius=0.6)
    print(f"RMS image error of the points: {before:.2f} -> {after:.2f} % of the eye distance")
    assert after < before
    out = tmp_path / "learned.npz"
    lc.main(["--train", str(data), "--radius", "0.6", "--out", str(out)])
    again = apply_learned(corr, out)
    assert not np.array_equal(again.ict_vertices, corr.ict_vertices)
