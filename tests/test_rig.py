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


def test_a_broad_smile_reaches_the_full_range(model, avatars):
    """The astronaut smiles broadly: the fit takes ICT's mouthSmile to its end (1; the rig's keys are ICT's
    whole deltas), and the corrective field carries none of the smile, so the rest pose does not smile and
    the photo pose is the keys' own range."""
    a = avatars["astronaut"]
    for side in ("L", "R"):
        name = f"mouthSmile_{side}"
        k = model.expression_index(name)
        assert a.fit.expression[k] > 0.9
        d = model.expression_basis[k].reshape(-1)
        along = float(a.fit.corrective.reshape(-1) @ d / (d @ d))
        print(f"{name}: {a.fit.expression[k]:.2f}, corrective along it {along:+.3f}")
        assert abs(along) < 0.05


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


def test_lid_margins_found_from_the_mesh(model):
    from headforge.core.eyelids import lid_margins

    margins = lid_margins(model)
    co = model.neutral
    for side, sign in (("L", 1), ("R", -1)):
        upper, lower = margins[side]
        assert np.sign(co[upper, 0].mean()) == sign  # the person's left eye is at +x
        assert co[upper, 1].mean() > co[lower, 1].mean() + 0.3  # cm: the upper lid is above, eye open
        assert {upper[0], upper[-1]} == {lower[0], lower[-1]}  # the halves meet at the corners
    # the two eyes' margins mirror each other
    upper_l, _ = margins["L"]
    upper_r, _ = margins["R"]
    assert set(model.mirror[upper_l]) == set(upper_r)


def test_blinks_close_for_every_person(model, avatars):
    """ICT's blink leaves the lids apart (about 1 mm on the mean face, more on others); corrected, every person's
    lids meet (gap <= 0.3 mm along the whole lid), half a blink is half closed, the upper lashes go down with the
    lid, and nothing away from the eye moves."""
    from headforge.core.eyelids import FOLLOW_CM, LASHES, close_blinks, lid_gaps, lid_margins

    rng = np.random.default_rng(3)
    fitted = core_rig.neutral_vertices(model, avatars["astronaut"].vertices,
                                       np.asarray(avatars["astronaut"].fit.expression, np.float32))
    people = [model.neutral, fitted] + [model.neutral + np.tensordot(rng.normal(0, 1.5, model.n_identity),
                                                                     model.identity_basis, 1) for _ in range(3)]
    basis_before = model.expression_basis.copy()
    worst_before = 0.0
    for neutral in people:
        keys = core_rig.arkit52(model)
        ict = core_rig.ict_shape_keys(model)
        close_blinks(model, neutral, keys)
        close_blinks(model, neutral, ict)
        for side, arkit_name, ict_name in (("L", "eyeBlinkLeft", "eyeBlink_L"), ("R", "eyeBlinkRight", "eyeBlink_R")):
            raw = model.expression_basis[model.expression_index(ict_name)]
            before = lid_gaps(model, neutral + raw, side).max()
            worst_before = max(worst_before, before)
            after = lid_gaps(model, neutral + keys[arkit_name], side)
            half = lid_gaps(model, neutral + 0.5 * keys[arkit_name], side).max()
            opened = lid_gaps(model, neutral, side).max()
            assert after.max() <= 0.03, (side, before, after.max())
            assert 0.3 * opened < half < 0.7 * opened
            np.testing.assert_allclose(keys[arkit_name], ict[ict_name], atol=1e-6)
            moved = np.linalg.norm(keys[arkit_name] - raw, axis=1)
            upper, lower = lid_margins(model)[side]
            near = np.linalg.norm(neutral[:, None] - neutral[upper][None], axis=2).min(1) < FOLLOW_CM
            a, b = REGIONS[LASHES[side]]
            lashes = np.zeros(len(neutral), bool)
            lashes[a:b + 1] = True
            assert moved[~near & ~lashes].max() == 0.0
            assert moved[lower].max() == 0.0  # the lower lid stays; the upper one comes down to it
            # the lash root nearest each upper-margin vertex moves with it
            inner = upper[2:-2]
            root = a + np.linalg.norm(neutral[inner][:, None] - neutral[a:b + 1][None], axis=2).argmin(1)
            assert 0.6 < moved[root].sum() / moved[inner].sum() < 1.4
    print(f"largest gap with ICT's own blink: {worst_before * 10:.2f} mm")
    assert worst_before > 0.06  # the defect was there to mend
    np.testing.assert_array_equal(model.expression_basis, basis_before)


@pytest.mark.parametrize("target", [3000, 10000])
def test_lod_budgets_share_out_every_vertex(model, target):
    budgets = core_rig.lod_budgets(target)
    members = np.concatenate([m for m, _ in budgets.values()])
    assert np.array_equal(np.sort(members), np.arange(model.n_vertices))  # each vertex in one part, once
    assert abs(sum(t for _, t in budgets.values()) - target) <= len(budgets)
    share = {part: t / target for part, (_, t) in budgets.items()}
    print({k: f"{v:.0%}" for k, v in share.items()})
    assert share["skin"] > 0.5 and share["gums and tongue"] < 0.05
