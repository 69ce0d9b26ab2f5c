"""The rig's geometry (core.rig, no Blender): shape keys, the ARKit mapping, skin weights."""

import numpy as np
import pytest

from headforge.core import rig as core_rig
from headforge.core.facemodel import LANDMARKS_68, REGIONS, SKIN_END

LOWER_LIP = LANDMARKS_68[57]


def test_shape_keys_and_arkit_mapping(model, avatars):
    a = avatars["astronaut"]
    neutral = core_rig.neutral_vertices(model, a.vertices, a.fit.expression)
    keys = core_rig.ict_shape_keys(model)
    assert list(keys) == list(model.expression_names) and len(keys) == 53
    assert all(np.linalg.norm(d, axis=1).max() > 0.05 for d in keys.values())  # every key moves something (cm)
    opened = neutral + keys["jawOpen"]
    drop = neutral[LOWER_LIP, 1] - opened[LOWER_LIP, 1]
    print(f"jawOpen = 1 lowers the lower lip by {drop:.2f} cm")
    assert 1.5 < drop < 6.0
    ark = core_rig.arkit52(model)
    assert tuple(ark) == core_rig.ARKIT_52 and len(ark) == 52
    np.testing.assert_allclose(ark["browInnerUp"], keys["browInnerUp_L"] + keys["browInnerUp_R"])
    np.testing.assert_array_equal(ark["jawLeft"], keys["jawLeft"])
    np.testing.assert_array_equal(ark["eyeBlinkLeft"], keys["eyeBlink_L"])
    assert not ark["tongueOut"].any()


def test_weights(model):
    w = core_rig.skin_weights(model)
    total = sum(w.values())
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    teeth = np.arange(REGIONS["teeth"][0], REGIONS["teeth"][1] + 1)
    assert (w["jaw"][teeth] > 0.99).sum() > 1000 and (w["jaw"][teeth] < 0.01).sum() > 1000  # lower / upper
    assert w["jaw"][LOWER_LIP] > 0.8 and w["jaw"][LANDMARKS_68[51]] < 0.2  # lower lip yes, upper lip no
    a, b = REGIONS["eyeball_L"]
    assert (w["eye.L"][a:b + 1] == 1).all() and not w["eye.R"][a:b + 1].any()
    top = np.argmax(model.neutral[:SKIN_END, 1])
    assert w["head"][top] == pytest.approx(1.0)
