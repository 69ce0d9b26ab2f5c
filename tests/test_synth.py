"""Synthetic training set without Blender: parameters are deterministic and cover the space."""

import numpy as np

from headforge.core import synth as S


def test_parameters_are_deterministic_and_cover_the_space(model):
    cfg = S.SynthConfig(count=300, seed=7)
    a, b = S.sample_params(cfg, 5, model), S.sample_params(cfg, 5, model)
    np.testing.assert_array_equal(a["identity"], b["identity"])
    assert a["lights"] == b["lights"]
    other = S.sample_params(S.SynthConfig(count=300, seed=8), 5, model)
    assert not np.array_equal(a["identity"], other["identity"])
    ps = [S.sample_params(cfg, i, model) for i in range(300)]
    setups = {p["lights"]["setup"] for p in ps}
    yaw = np.array([p["yaw"] for p in ps])
    neutral = np.mean([p["expression"].max() == 0 for p in ps])
    melanin = np.array([p["appearance"]["melanin"] for p in ps])
    kinds = {p["background"]["kind"] for p in ps}
    focal = np.array([p["focal_mm"] for p in ps])
    assert len(setups) >= 30
    assert 0.1 < np.mean(np.abs(yaw) > 15) < 0.3 and np.abs(yaw).max() <= 45
    assert 0.2 < neutral < 0.5
    assert melanin.min() < 0.05 and melanin.max() > 0.95
    assert kinds == {"hdri", "clutter", "noise"}
    assert focal.min() < 30 and focal.max() > 80
    assert all(np.abs(p["identity"]).max() <= cfg.truncation for p in ps)
    assert any(p["mixed_identity"] for p in ps)
