"""Synthetic training set without Blender: parameters (deterministic, covering the space), and set version 2's
hair, eyebrows, beards, glasses and camera effects with their labels."""

import numpy as np
import pytest

from headforge.core import accessories as A, clothes as C, glasses as G, hair as H, synth as S
from headforge.core.eyes import IRIS_UV_RADIUS
from headforge.core.facemodel import LANDMARKS_68, SKIN_END, landmark_uv


def test_parameters_are_deterministic_and_cover_the_space(model):
    cfg = S.SynthConfig(count=300, seed=7, version=1)  # version 2 adds hair and wider poses (below)
    a, b = S.sample_params(cfg, 5, model), S.sample_params(cfg, 5, model)
    np.testing.assert_array_equal(a["identity"], b["identity"])
    assert a["lights"] == b["lights"]
    other = S.sample_params(S.SynthConfig(count=300, seed=8, version=1), 5, model)
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


def test_version_2_adds_hair_and_keeps_everything_else(model):
    """Hair and the wider poses are drawn from a random stream of their own: a v2 sample is its v1 sample
    plus hair, some turned further."""
    v1, v2 = S.SynthConfig(count=200, seed=7, version=1), S.SynthConfig(count=200, seed=7)
    assert v2.version == 2 and S.SynthConfig.from_dict({"count": 5}).version == 1  # sets from before versions
    for i in range(5):
        a, b = S.sample_params(v1, i, model), S.sample_params(v2, i, model)
        assert a["hair"] is None and b["hair"] is not None
        np.testing.assert_array_equal(a["identity"], b["identity"])
        assert a["appearance"] == b["appearance"] and a["lights"] == b["lights"] and a["focal_mm"] == b["focal_mm"]
    ps = [S.sample_params(v2, i, model) for i in range(200)]
    yaw = np.abs([p["yaw"] for p in ps])
    assert 0.1 < np.mean(yaw > 45) < 0.3 and yaw.max() > 80 and yaw.max() <= 90
    assert max(abs(p["pitch"]) for p in ps) > 25 and max(abs(p["roll"]) for p in ps) > 20
    hairs = [p["hair"] for p in ps]
    styles = {h["style"] for h in hairs}
    assert styles == set(H.STYLES)
    assert 0.2 < np.mean([h["fringe"] for h in hairs]) < 0.45
    assert min(h["melanin"] for h in hairs) < 0.2 and max(h["melanin"] for h in hairs) > 0.8
    assert any(h["grey"] > 0 for h in hairs) and any(h["tint_srgb"] != [1.0, 1.0, 1.0] for h in hairs)



def test_version_3_darkens_the_brows_and_keeps_everything_else(model):
    """Set version 3 is version 2 with eyebrows that show: the same people, poses, hair and light, only the
    brows denser, wider-stranded and darker."""
    v2, v3 = S.SynthConfig(count=200, seed=7), S.SynthConfig(count=200, seed=7, version=3)
    more = []
    for i in range(200):
        a, b = S.sample_params(v2, i, model), S.sample_params(v3, i, model)
        assert np.array_equal(a["identity"], b["identity"]) and np.array_equal(a["expression"], b["expression"])
        assert a["yaw"] == b["yaw"] and a["lights"] == b["lights"] and a["glasses"] == b["glasses"]
        assert {k: v for k, v in a["hair"].items() if k != "brows"} == {k: v for k, v in b["hair"].items() if k != "brows"}
        if a["hair"]["grey"] == 0:   # grey hair greys the brows too
            assert b["hair"]["brows"]["melanin"] >= max(0.35, a["hair"]["brows"]["melanin"] - 0.2)
        assert b["appearance"]["brow_darkness"] <= 0.3 and b["hair"]["brows"]["radius_scale"] > 1
        more.append(b["hair"]["brows"]["strands"] / a["hair"]["brows"]["strands"])
    assert np.median(more) > 1.8

def test_strands_grow_on_the_scalp_and_lie_on_the_head(model):
    v = model.neutral
    hair = H.sample_hair(np.random.default_rng(3), 0.5) | {"style": "long", "length_cm": 25.0, "fringe": False}
    pts = H.hair_strands(model, v, hair)
    assert pts.shape == (H.STRANDS["long"], H.POINTS_PER_STRAND, 3)
    np.testing.assert_array_equal(pts, H.hair_strands(model, v, hair))  # deterministic
    tris = H.scalp_triangles(model, v)
    assert len(tris) > 500
    # roots above the hairline: over the forehead well above the brows, at the temples above them
    roots = pts[:, 0]
    brow_y = v[LANDMARKS_68[17:27], 1].max()
    forehead, temples = (roots[:, 2] > 5) & (np.abs(roots[:, 0]) < 4), (roots[:, 2] > 4) & (np.abs(roots[:, 0]) >= 4)
    assert forehead.sum() > 100 and (roots[forehead, 1] > brow_y + 3).all()
    assert temples.sum() > 100 and (roots[temples, 1] > brow_y + 1).all()
    # every point outside the skull (no strand through the head), lengths as asked
    centre, radii = H.skull_ellipsoid(v, np.unique(model.triangles[tris]))
    assert (np.linalg.norm((pts[:, 1:] - centre) / radii, axis=2) >= 1 - 1e-9).all()
    length = np.linalg.norm(np.diff(pts, axis=1), axis=2).sum(1)
    assert 18 < np.median(length) < 32
    # no long strand hangs in front of the face below the brows, with a fringe or without
    lm = v[LANDMARKS_68]
    for fringe in (False, True):
        p = H.hair_strands(model, v, {**hair, "fringe": fringe})
        over_face = (np.abs(p[..., 0]) < lm[45, 0]) & (p[..., 1] < lm[17:27, 1].min()) & (p[..., 1] > lm[8, 1]) \
            & (p[..., 2] > lm[36, 2] - 2)
        assert over_face.any(1).mean() < 0.005, (fringe, over_face.any(1).mean())
    assert H.hair_strands(model, v, {**hair, "style": "bald"}).shape[0] == 0


def test_hair_with_a_volume_lies_at_many_depths_and_lets_go_of_the_crown_gradually(model):
    """Hair with a volume (read from a photo, or set by a user) lies over the crown at depths spread through its
    volume, not all on one shell (rendered, that was a smooth bald-looking dome), and goes from lying to hanging
    over a few centimetres below the skull's widest line (a hard line across the back of long hair)."""
    from headforge.core.hairstyle import PhotoHair

    v = model.neutral
    hair = PhotoHair("long", 25.0, False, 0.0, (150, 110, 70), 0.4, 0.1, 1.0, volume_cm=3.0).generator(seed=2)
    pts = H.hair_strands(model, v, hair)
    sv = np.unique(model.triangles[H.scalp_triangles(model, v, 0.0, hair["temples_cm"])])
    centre, radii = H.skull_ellipsoid(v, sv)
    shell = H._scalp_surface(v[sv], centre, radii)

    def height(p):   # cm above the scalp, along the line from the skull's centre
        return np.linalg.norm(p - centre, axis=1) - np.linalg.norm(shell(H._unit_rows((p - centre) / radii), 0.0)
                                                                  - centre, axis=1)
    crown = pts[:, 3:][pts[:, 3:, 1] > centre[1] + 4.0]
    assert len(crown) > 1000
    lo, hi = np.percentile(height(crown), [10, 90])
    assert lo < 0.7 * hair["volume_cm"] and hi > 0.9 * hair["volume_cm"], (lo, hi)
    # the share of strand points that follow the shell falls over HANG_BLEND_CM, not at one height
    assert H._falling(np.array([centre[1] - 1.0, centre[1] - 1.0 - H.HANG_BLEND_CM / 2]), centre, True) \
        == pytest.approx([0.0, 0.5])
    np.testing.assert_array_equal(H._falling(np.array([centre[1] - 0.5, centre[1] - 1.5]), centre, False), [0, 1])


def test_the_photos_hair_covers_the_temples_and_short_hair_is_tapered_at_the_nape(model):
    """The hair read from a photo grows from a hairline lowered at the temples (in front of the ears, where the
    synthetic people's line left skin bare) and, when short, is shorter at the nape (it hung 4 cm down the neck, a
    mullet); the synthetic people's hair draws neither, so the sets stay as they were."""
    from headforge.core.hairstyle import NAPE_TAPER, TEMPLES_CM, PhotoHair

    v = model.neutral
    drawn = H.sample_hair(np.random.default_rng(3), 0.5)
    assert "temples_cm" not in drawn and "nape_taper" not in drawn
    photo = PhotoHair("short", 4.0, False, 0.0, (90, 70, 55), 0.6, 0.0, 1.0, volume_cm=1.0).generator(seed=5)
    assert photo["temples_cm"] == TEMPLES_CM and photo["nape_taper"] == NAPE_TAPER
    # the line: lowered by the whole amount at the temple's azimuth, by nothing over the forehead and the nape
    at = np.radians([0.0, H.TEMPLE_AZIMUTH_DEG, 180.0])
    pts = np.c_[8 * np.sin(at), np.full(3, 6.0), 8 * np.cos(at)]
    np.testing.assert_allclose(H.above_hairline(pts, 0.0, 3.0) - H.above_hairline(pts), [0.0, 3.0, 0.0], atol=0.01)
    # strands: roots in front of the ears below where the line used to run; short hair shorter at the nape
    plain, lowered = (H.hair_strands(model, v, {**photo, "temples_cm": t, "nape_taper": None}) for t in (0.0, TEMPLES_CM))
    temple = lambda p: (np.abs(p[:, 0]) > 4.5) & (p[:, 2] > 4.5) & (p[:, 1] < 7.0)  # noqa: E731
    assert temple(plain[:, 0]).sum() == 0 and temple(lowered[:, 0]).sum() > 50
    tapered = H.hair_strands(model, v, {**photo, "temples_cm": TEMPLES_CM})
    np.testing.assert_array_equal(tapered[:, 0], lowered[:, 0])
    length = lambda p: np.linalg.norm(np.diff(p, axis=1), axis=2).sum(1)  # noqa: E731
    nape = lowered[:, 0, 1] < H.HAIRLINE_BACK_CM + 2.0
    assert nape.sum() > 50
    assert np.median(length(tapered)[nape]) < 0.6 * np.median(length(lowered)[nape])
    assert np.median(length(tapered)[lowered[:, 0, 1] > H.TAPER_TOP_CM]) == \
        pytest.approx(np.median(length(lowered)[lowered[:, 0, 1] > H.TAPER_TOP_CM]), rel=0.02)
    # the parting ends at the crown: behind it the strands fall, not combed apart (a seam down the back of the head)
    centre, _ = H.skull_ellipsoid(v, np.unique(model.triangles[H.scalp_triangles(model, v)]))
    back = (tapered[:, 0, 2] < centre[2] - H.PARTING_FADE_CM) & (np.abs(tapered[:, 0, 0]) < 3.0)

    def apart(p):   # how far (cm) the strands rooted in the middle of the back move away from the middle
        return np.median((p[back, -1, 0] - p[back, 0, 0]) * np.sign(p[back, 0, 0]))
    assert back.sum() > 200
    seam = apart(H.hair_strands(model, v, {**photo, "parting_to_crown": False}))   # 0.49 cm
    assert apart(tapered) < 0.2 and seam > 2.5 * apart(tapered)
    # medium and long hair are not tapered
    medium = {**photo, "style": "medium", "length_cm": 12.0}
    np.testing.assert_allclose(length(H.hair_strands(model, v, medium)),
                               length(H.hair_strands(model, v, {**medium, "nape_taper": None})))


def test_tied_back_hair_is_combed_over_the_skull_to_a_ponytail_or_a_bun(model):
    """Hair tied back (set version 7, and a user's choice): each strand runs from its root over the skull to
    the gather point behind the head, then hangs in a tail below it (a ponytail) or winds round a ball there (a
    bun); nothing goes through the skull or over the face."""
    v = model.neutral
    hair = H.sample_hair(np.random.default_rng(3), 0.5) | {"style": "long", "length_cm": 25.0, "fringe": False}
    loose = H.hair_strands(model, v, hair)
    tris = H.scalp_triangles(model, v)
    centre, radii = H.skull_ellipsoid(v, np.unique(model.triangles[tris]))
    lm = v[LANDMARKS_68]
    P = H.TIED_PATH_POINTS
    from scipy.spatial import cKDTree

    skin_tree, normals = cKDTree(v[:SKIN_END]), model.vertex_normals(v)
    for kind in H.TIED:
        pts = H.hair_strands(model, v, {**hair, "tied": kind})
        assert pts.shape == (len(loose), H.TIED_POINTS, 3)
        np.testing.assert_array_equal(pts[:, 0], loose[:, 0])     # the same roots as loose hair
        # no segment cuts under the skin (a long chord from a root at the forehead did: the front looked bald)
        mid = ((pts[:, 1:] + pts[:, :-1]) / 2).reshape(-1, 3)
        _, near = skin_tree.query(mid)
        assert (((mid - v[near]) * normals[near]).sum(1) < 0).mean() < 0.001
        assert (np.linalg.norm((pts[:, 1:] - centre) / radii, axis=2) >= 1 - 1e-9).all()
        # the gather point: behind the head, between the ears' height and the crown
        tie = pts[:, P - 1]
        assert (tie[:, 2] < centre[2] - 0.6 * radii[2]).all() and (tie[:, 1] > centre[1]).all()
        assert np.ptp(tie, axis=0).max() < 6.0
        over_face = (np.abs(pts[..., 0]) < lm[45, 0]) & (pts[..., 1] < lm[17:27, 1].min()) & \
            (pts[..., 1] > lm[8, 1]) & (pts[..., 2] > lm[36, 2] - 2)
        assert not over_face.any()
        rest = pts[:, P:]
        if kind == "ponytail":   # the tail hangs down from the tie, behind the head, as long as the hair allows
            drop = tie[:, 1] - rest[:, -1, 1]
            assert np.median(drop) > 0.8 * (hair["length_cm"] - H.TAIL_TAKEN_CM) and (drop > 0).all()
            assert (rest[..., 2] < centre[2] - 0.5 * radii[2]).all()
        else:                    # the bun: a ball as wide as the hair is long, behind and above the tie's height
            ball = rest.reshape(-1, 3).mean(0)
            r = np.linalg.norm(rest - ball, axis=2)
            assert np.percentile(r, 95) < H.BUN_RADIUS_CM[1] * 1.3 and ball[2] < tie[:, 2].mean()
    # only medium and long hair without a fringe is tied back, in about TIED_P of set version 7's people
    r = np.random.default_rng(0)
    tied = [H.sample_tied(r, {**hair, "style": s, "fringe": f}) for s in ("medium", "long") for f in (False,)
            for _ in range(400)]
    assert abs(np.mean([t is not None for t in tied]) - H.TIED_P) < 0.06 and set(tied) == {None, *H.TIED}
    assert all(H.sample_tied(r, {**hair, "style": s, "fringe": False}) is None for s in ("bald", "short"))
    assert H.sample_tied(r, {**hair, "style": "long", "fringe": True}) is None


def test_version_7_ties_some_hair_back_and_keeps_everything_else(model):
    v6, v7 = S.SynthConfig(count=300, seed=7, version=6), S.SynthConfig(count=300, seed=7, version=7)
    kinds = []
    for i in range(300):
        a, b = S.sample_params(v6, i, model), S.sample_params(v7, i, model)
        tied = b["hair"].pop("tied")
        assert a["hair"] == b["hair"] and a["eyes"] == b["eyes"] and a["clothes"] == b["clothes"]
        assert tied is None or (a["hair"]["style"] in ("medium", "long") and not a["hair"]["fringe"])
        kinds.append(tied)
    assert set(kinds) == {None, *H.TIED}


def test_the_hair_caps_alpha_covers_the_scalp_across_its_uv_seams(model):
    """The exported hair cap's texture (``core.game.hair_cap_texture`` over ``core.hair.scalp_mask``) is opaque
    at every skin corner a centimetre or more above the hairline, those on the seam between the face's and the
    back of the head's UV islands too (the cap showed a line of skin along it), clear a centimetre below, and a
    receding hairline takes the cap's edge up with it."""
    from scipy.ndimage import map_coordinates

    from headforge.core.game import hair_cap_texture

    v = model.neutral
    skin = model.skin_polygons[model.poly_index_of_loop]
    corner = v[model.loop_vertex[skin]]
    uv = model.loop_uv[skin]
    away_from_ears = (np.abs(corner[:, 0]) < 5.5) | (corner[:, 1] > 8.5)
    for recession in (0.0, 3.0):
        alpha = hair_cap_texture(H.scalp_mask(model, v, 256, recession), (60, 40, 30))[..., 3].astype(np.float32)
        at = map_coordinates(alpha, [(1 - uv[:, 1]) * 256 - 0.5, uv[:, 0] * 256 - 0.5], order=1, mode="nearest")
        height = H.above_hairline(corner, recession)
        above, below = away_from_ears & (height > 1.0), away_from_ears & (height < -1.0)
        assert above.sum() > 1000 and below.sum() > 1000
        assert at[above].min() > 127 and at[below].max() < 128, (recession, at[above].min(), at[below].max())


def test_hair_in_the_labels():
    lab = {"mask": np.full((4, 4), S.MASK_FACE, np.uint8), "lm68": np.array([[0.5, 0.5], [3.2, 3.9], [2.5, 3.5]]),
           "lm68_visible": np.array([True, True, True]), "mp478": np.array([[1.5, 0.2]]),
           "mp478_visible": np.array([True])}
    hair, beard, frame = np.zeros((4, 4), bool), np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    hair[0, :2] = True
    beard[3, 2:] = True
    frame[1, 1] = True
    out = S.with_coverage(lab, {"hair": hair, "beard": beard, "glasses": frame})
    assert (out["mask"] == S.MASK_HAIR).sum() == 2 and (out["mask"] == S.MASK_BEARD).sum() == 2
    assert out["mask"][1, 1] == S.MASK_GLASSES
    assert (lab["mask"] == S.MASK_FACE).all()  # the caller's labels stay as they were
    # scalp hair hides the landmarks under it; a beard or a frame does not (annotators mark through them)
    assert out["lm68_visible"].tolist() == [False, True, True] and out["mp478_visible"].tolist() == [False]


def test_eyebrows_and_beards_lie_on_their_areas(model):
    masks = S.mask_images(model)
    hair = H.sample_hair(np.random.default_rng(5), 0.4)
    hair["beard"] = {"style": "full", "length_cm": 3.0, "density": 1.0}
    v = model.neutral
    strands = H.facial_hair_strands(model, v, hair, masks)
    brows, beard = strands["brows"], strands["beard"]
    assert brows.shape == (hair["brows"]["strands"], H.FACIAL_POINTS, 3) and len(beard) == H.BEARD_STRANDS["full"]
    lm = v[LANDMARKS_68]
    # brow roots around the brow landmarks, both sides; beard roots below the nose
    d = np.linalg.norm(brows[:, 0, None, :] - lm[None, 17:27], axis=2).min(1)
    assert np.median(d) < 1.0 and (brows[:, 0, 0] < 0).mean() == pytest.approx(0.5, abs=0.1)
    assert (beard[:, 0, 1] < lm[33, 1]).mean() > 0.98
    # brow hairs point outwards, beard hairs down
    assert (np.sign(brows[:, -1, 0] - brows[:, 0, 0]) == np.sign(brows[:, 0, 0])).mean() > 0.8
    assert (beard[:, -1, 1] < beard[:, 0, 1]).mean() > 0.8
    none = H.facial_hair_strands(model, v, {**hair, "beard": {"style": "none", "length_cm": 0.0, "density": 1.0}},
                                 masks)
    assert len(none["beard"]) == 0


def test_glasses_sit_in_front_of_the_eyes(model):
    cfg = S.SynthConfig(count=400, seed=7)
    worn = [g for g in (S.sample_params(cfg, i, model)["glasses"] for i in range(400)) if g is not None]
    assert 0.18 < len(worn) / 400 < 0.32
    assert any(g["thick"] for g in worn) and any(g["metal"] for g in worn)
    assert any(g["lens_opacity"] > 0.5 for g in worn) and any(g["lens_opacity"] < 0.25 for g in worn)
    v = model.neutral
    lm = v[LANDMARKS_68]
    for g in worn[:10]:
        geo = G.glasses_geometry(v, g)
        rims = geo["rims"]
        assert rims.shape == (2, G.RIM_POINTS + 1, 3)
        np.testing.assert_array_equal(rims[:, 0], rims[:, -1])  # closed
        for k, eye in enumerate((lm[36:42], lm[42:48])):
            c = eye.mean(0)
            lo, hi = rims[k, :, :2].min(0), rims[k, :, :2].max(0)
            assert (lo < c[:2]).all() and (c[:2] < hi).all()  # each rim around its eye
            assert rims[k, :, 2].max() > eye[:, 2].max() + 1.0  # in front of it
        ends = geo["arms"][:, -1]
        assert (np.abs(ends[:, 0]) > np.abs(lm[[0, 16], 0]).max()).all() and (ends[:, 2] < lm[[0, 16], 2].max()).all()


def test_camera_effects_change_the_look_not_the_geometry(astronaut_rgb, model):
    fxs = [S.sample_camera_effects(np.random.default_rng(i)) for i in range(300)]
    assert 0.4 < np.mean([fx["jpeg_quality"] > 0 for fx in fxs]) < 0.8
    assert any(fx["motion_px"] for fx in fxs) and any(fx["resolution"] < 1 for fx in fxs)
    assert S.sample_params(S.SynthConfig(count=5), 0, model)["camera_effects"] is not None
    assert S.sample_params(S.SynthConfig(count=5, version=1), 0, model)["camera_effects"] is None
    img = np.ascontiguousarray(astronaut_rgb[::2, ::2])
    strong = {"white_balance": [1.1, 1.0, 0.9], "exposure_ev": 0.5, "blur_px": 1.0, "motion_px": 4.0,
              "motion_angle": 30.0, "resolution": 0.5, "noise": 4.0, "jpeg_quality": 40, "seed": 3}
    out = S.apply_camera_effects(img, strong)
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, S.apply_camera_effects(img, strong))  # deterministic
    assert out.mean() > img.mean() + 5  # half a stop brighter
    # the geometry stays: the image still lines up with itself (phase correlation, no shift)
    import cv2

    g = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32) for x in (img, out)]
    (dx, dy), _ = cv2.phaseCorrelate(g[0], g[1])
    assert abs(dx) < 0.5 and abs(dy) < 0.5
    none = {**strong, "white_balance": [1, 1, 1], "exposure_ev": 0.0, "blur_px": 0.0, "motion_px": 0.0,
            "resolution": 1.0, "noise": 0.0, "jpeg_quality": 0}
    assert np.abs(S.apply_camera_effects(img, none).astype(int) - img).max() <= 1


def test_version_4_adds_accessories_and_keeps_everything_else(model):
    """Set version 4 is version 3 with hats, headbands, earrings and things held in front of the face, drawn from
    a stream of their own: the same people, poses, hair and light."""
    from collections import Counter

    v3, v4 = S.SynthConfig(count=300, seed=7, version=3), S.SynthConfig(count=300, seed=7, version=4)
    worn = Counter()
    for i in range(300):
        a, b = S.sample_params(v3, i, model), S.sample_params(v4, i, model)
        assert a["accessories"] is None
        assert np.array_equal(a["identity"], b["identity"]) and np.array_equal(a["shift"], b["shift"])
        for key in ("yaw", "pitch", "roll", "focal_mm", "lights", "hair", "glasses", "appearance", "background"):
            assert a[key] == b[key], key
        acc = b["accessories"]
        assert not (acc["hat"] and acc["headband"])
        worn.update(name for name, thing in acc.items() if thing)
        worn.update(f"{name} {thing['kind']}" for name, thing in acc.items() if thing and "kind" in thing)
    assert 0.1 < worn["hat"] / 300 < 0.27 and worn["hat beanie"] > 10 and worn["hat cap"] > 10
    assert 0.02 < worn["headband"] / 300 < 0.12 and 0.12 < worn["earrings"] / 300 < 0.3
    assert 0.08 < worn["occluder"] / 300 < 0.23 and all(worn[f"occluder {k}"] > 2 for k in A.OCCLUDERS)


def test_hats_and_headbands_sit_outside_the_head_and_tuck_the_hair_in(model):
    rng = np.random.default_rng(5)
    hair = H.sample_hair(np.random.default_rng(3), 0.5) | {"style": "long", "length_cm": 25.0, "fringe": False}
    for _ in range(3):
        v = model.vertices(np.clip(rng.standard_normal(model.n_identity), -2.5, 2.5), np.zeros(model.n_expression))
        hat = {"kind": "beanie", "front_cm": 8.0, "back_cm": -1.0, "gap_cm": 1.5}
        shell = A.hat_shell(model, v, hat)
        skin = v[:SKIN_END]
        d = skin - shell.centre
        dist = np.linalg.norm(d, axis=1)
        covered = shell.covers(skin)
        assert covered.sum() > 500
        assert (shell.radius_at(d / dist[:, None])[covered] - dist[covered]).min() >= 0.5 * hat["gap_cm"] - 0.05
        verts, quads = shell.mesh()
        assert np.isfinite(verts).all() and quads.max() < len(verts)
        edge = verts.reshape(A.SHELL_COLUMNS, A.SHELL_ROWS, 3)[:, -1]
        assert abs(edge[np.argmin(np.abs(shell.azimuth)), 1] - hat["front_cm"]) < 0.3   # the edge over the forehead
        # hair under the hat stays inside it; hair below its edge is left as it was
        strands = H.hair_strands(model, v, hair)
        pts, tucked = strands.reshape(-1, 3), shell.tuck(strands).reshape(-1, 3)
        under = shell.covers(pts)
        assert 0.1 < under.mean() < 0.9
        u = tucked[under] - shell.centre
        r = np.linalg.norm(u, axis=1)
        assert (r <= shell.radius_at(u / r[:, None]) - 0.2).all()
        np.testing.assert_array_equal(tucked[~under], pts[~under])
        # a cap's visor reaches forward from the edge; a band lies between its two lines
        visor, visor_quads = A.brim(shell, 6.0)
        assert visor[:, 2].max() > edge[:, 2].max() + 4.0 and visor_quads.max() < len(visor)
        band = A.headband_shell(model, v, {"front_cm": 9.0, "width_cm": 3.0, "gap_cm": 0.5})
        front = band.mesh()[0].reshape(A.SHELL_COLUMNS, A.SHELL_ROWS, 3)[np.argmin(np.abs(band.azimuth))]
        assert abs(front[-1, 1] - 9.0) < 0.3 and abs(front[0, 1] - 12.0) < 0.3


def test_held_things_are_in_front_of_the_face_and_earrings_hang_from_the_ears(model):
    v = model.neutral
    lm = v[LANDMARKS_68]
    for kind in A.OCCLUDERS:
        for at, points in A.HELD_AT.items():
            occ = {"kind": kind, "at": at, "side": 1, "gap_cm": 2.0, "offset_cm": [0.0, 0.0], "roll_deg": 20.0,
                   "yaw_deg": -10.0}
            verts, quads = A.occluder_mesh(v, occ)
            target = lm[list(points[1] if isinstance(points[0], tuple) else points)].mean(0)
            assert quads.max() < len(verts) and verts[:, 2].mean() > target[2] + occ["gap_cm"]
            lo, hi = verts[:, :2].min(0), verts[:, :2].max(0)
            if kind != "microphone":   # the rest cover the point they are held at
                assert (lo < target[:2]).all() and (target[:2] < hi).all(), (kind, at)
    lobes = A.ear_lobes(v)
    assert lobes[0, 0] < -7 and lobes[1, 0] > 7 and H.in_ears(lobes).all()
    for kind in ("hoop", "stud"):
        rings = A.earring_curves(v, {"kind": kind, "radius_cm": 1.0 if kind == "hoop" else 0.2, "wire_cm": 0.1})
        for ring, lobe in zip(rings, lobes):
            assert np.linalg.norm(ring.mean(0) - lobe) < 1.5 and np.allclose(ring[0], ring[-1])
            assert kind == "stud" or ring[:, 1].min() < lobe[1] - 1.5


def test_version_5_adds_clothes_and_keeps_everything_else(model):
    v4, v5 = S.SynthConfig(count=200, seed=7, version=4), S.SynthConfig(count=200, seed=7, version=5)
    necklines, layers = [], []
    for i in range(200):
        a, b = S.sample_params(v4, i, model), S.sample_params(v5, i, model)
        assert a["clothes"] is None and a["accessories"] == b["accessories"] and a["hair"] == b["hair"]
        assert a["appearance"] == {k: v for k, v in b["appearance"].items() if k not in S.NO_SKIN_LAYERS}
        layers.append([b["appearance"][k] > 0 for k in ("moles", "blemishes", "lipstick", "eyeliner")])
        assert np.array_equal(a["identity"], b["identity"]) and a["lights"] == b["lights"]
        necklines.append(b["clothes"]["neckline"])
        assert a["fstop"] is None   # the depth of field: a phone's wide lens keeps everything sharp
        assert (6 <= b["fstop"] <= 14) if b["focal_mm"] < 35 else (1.8 <= b["fstop"] <= 8)
    assert set(necklines) == set(C.NECKLINES) and min(necklines.count(n) for n in C.NECKLINES) > 15
    views = S.SynthConfig(count=120, seed=7, version=5, views=3)
    for i in range(120):   # a person's other photos: another lens, and its aperture with it
        b = S.sample_params(views, i, model)
        assert (6 <= b["fstop"] <= 14) if b["focal_mm"] < 35 else (1.8 <= b["fstop"] <= 8)
    moles, blemishes, lipstick, eyeliner = np.mean(layers, axis=0)
    assert 0.3 < moles < 0.5 and 0.2 < blemishes < 0.4 and 0.12 < lipstick < 0.3 and 0.1 < eyeliner < 0.27
    masks = S.mask_images(model, 256)
    uv = landmark_uv(model)
    for name, near in (("eyelids", (37, 38, 43, 44)), ("eyeliner", (36, 39, 42, 45))):   # around the eyes
        m = masks[name]
        ys, xs = np.nonzero(m > 0.5)
        eye = np.stack([uv[list(near), 0] * 256, (1 - uv[list(near), 1]) * 256], 1)
        assert len(xs) > 20 and np.min(np.hypot(*(np.stack([xs, ys], 1)[:, None] - eye[None]).transpose(2, 0, 1)), 0).max() < 12


def test_version_6_adds_eyes_and_keeps_everything_else(model):
    v5, v6 = S.SynthConfig(count=200, seed=7, version=5), S.SynthConfig(count=200, seed=7, version=6)
    pupils, bloodshot, ratios = [], [], []
    for i in range(200):
        a, b = S.sample_params(v5, i, model), S.sample_params(v6, i, model)
        assert a["eyes"] is None and np.array_equal(a["identity"], b["identity"])
        for key in ("appearance", "hair", "accessories", "clothes", "lights", "fstop", "glasses", "yaw"):
            assert a[key] == b[key], key
        e = b["eyes"]
        pupils.append(e["pupil_mm"])
        assert e["pupil_uv_radius"] < IRIS_UV_RADIUS / 1.5
        bloodshot.append(e["veins"] > 1.0)
        ratios.append(np.mean(e["iris_srgb"]) / (np.mean(b["appearance"]["iris_srgb"]) * 255))
        assert all(0 <= c <= 255 for c in e["iris_srgb"] + e["sclera_srgb"])
        assert e["sclera_srgb"][2] <= e["sclera_srgb"][0]   # off-white to yellowish, never blue
    assert S.PUPIL_MM[0] <= min(pupils) < 2.5 and 6.5 < max(pupils) <= S.PUPIL_MM[1]
    assert 0.04 < np.mean(bloodshot) < 0.18
    assert 0.65 < min(ratios) and max(ratios) < 1.5 and np.std(ratios) > 0.1   # the person's colour, lighter or darker
    # a person's other photos keep the eyes
    views = S.SynthConfig(count=6, seed=7, version=6, views=3)
    assert S.sample_params(views, 3, model)["eyes"] == S.sample_params(views, 5, model)["eyes"]


def test_clothes_lie_outside_the_skin_and_hair_falls_over_them(model):
    rng = np.random.default_rng(4)
    hair = H.sample_hair(np.random.default_rng(3), 0.5) | {"style": "long", "length_cm": 30.0, "fringe": False}
    for neckline in C.NECKLINES:
        v = model.vertices(np.clip(rng.standard_normal(model.n_identity), -2.5, 2.5), np.zeros(model.n_expression))
        clothes = C.sample_clothes(rng) | {"neckline": neckline}
        g = C.garment(v, clothes)
        skin = v[:SKIN_END]
        theta, dist = np.arctan2(skin[:, 0], skin[:, 2] - C.NECK_Z_CM), np.hypot(skin[:, 0], skin[:, 2] - C.NECK_Z_CM)
        below = skin[:, 1] < np.interp(theta, g.azimuth, g.top, period=2 * np.pi)
        assert below.sum() > 300
        assert (g.radius_at(theta[below], skin[below, 1]) - dist[below]).min() > 0.5 * clothes["thickness_cm"]
        verts, quads = g.mesh()
        assert np.isfinite(verts).all() and quads.max() < len(verts)
        # the shoulders: as wide as asked at the shoulders' line, and the chest in front of the neck's axis
        at_shoulders = g.radius_at(np.array([np.pi / 2, 0.0]), np.full(2, C.SHOULDER_Y_CM - 5))
        assert abs(at_shoulders[0] - clothes["shoulder_cm"]) < 1.5 and at_shoulders[1] > 0.5 * clothes["chest_cm"]
        strands = H.hair_strands(model, v, hair)
        pts, draped = strands.reshape(-1, 3), g.drape(strands).reshape(-1, 3)
        th, r = np.arctan2(draped[:, 0], draped[:, 2] - C.NECK_Z_CM), np.hypot(draped[:, 0], draped[:, 2] - C.NECK_Z_CM)
        low = draped[:, 1] < np.interp(th, g.azimuth, g.top, period=2 * np.pi) - 1.0
        assert low.sum() > 100 and (r[low] >= g.radius_at(th[low], draped[low, 1]) + 0.2).all()
        np.testing.assert_array_equal(draped[:, 1], pts[:, 1])   # moved out, never up or down


def test_hair_cards_cover_the_hair_at_every_lod_and_a_stray_strand_stays_in(model):
    """The exported hair cards (``core.game.hair_cards``) of loose and tied-back hair: as many as each LOD asks,
    reaching as far as the hair does, not under the skin, and not sticking out where one strand strays; their
    texture keeps each clump's middle above the alpha cut at a distant mip level, in the hair's colour."""
    import cv2
    from scipy.spatial import cKDTree

    from headforge.core.game import HAIR_CARD_CLUMPS, HAIR_CARDS, hair_card_texture, hair_cards

    v = model.neutral
    hair = H.sample_hair(np.random.default_rng(3), 0.5) | {"style": "long", "length_cm": 25.0, "fringe": False,
                                                           "curl_cm": 0.0}
    scalp = np.unique(model.triangles[H.scalp_triangles(model, v)])
    centre, _ = H.skull_ellipsoid(v, scalp)
    skin_tree, normals = cKDTree(v[:SKIN_END]), model.vertex_normals(v)
    for kind in (None, "ponytail"):
        strands = H.hair_strands(model, v, {**hair, "tied": kind})
        for lod, (count, points) in enumerate(HAIR_CARDS):
            verts, quads, uv, card = hair_cards(list(strands), centre, lod)
            assert verts.shape == (count * 2 * points, 3) and quads.shape == (count * (points - 1), 4)
            assert card.max() == count - 1 and uv.min() >= 0 and uv.max() <= 1
            # as far as the hair reaches (a card is a clump's median path: the strays of a clump go further)
            for q in (1, 99):
                gap = np.percentile(verts, q, 0) - np.percentile(strands.reshape(-1, 3), q, 0)
                assert np.abs(gap).max() < 2.0, (kind, lod, q, gap)
            # over the head (below the chin long hair hangs through the bust, as its strands do)
            head = verts[verts[:, 1] > v[LANDMARKS_68[8], 1]]
            _, near = skin_tree.query(head)
            under = ((head - v[near]) * normals[near]).sum(1) < -0.3   # LOD2's wide cards dip a little
            assert under.mean() < 0.002, (kind, lod, under.mean())
        # one strand standing straight up 21 cm from the crown makes no card stick up
        stray, crown = strands.copy(), int(np.argmax(strands[:, 0, 1]))
        stray[crown, 1:] = stray[crown, 0] + [0.0, 3.0, 0.0] * np.arange(1, strands.shape[1])[:, None]
        top = strands[..., 1].max()
        assert hair_cards(list(stray), centre, 0)[0][:, 1].max() < top + 1.0 < stray[..., 1].max() - 10.0

    tex = hair_card_texture((90, 60, 40))
    size = tex.shape[0]
    far = cv2.resize(tex[..., 3].astype(np.float32), (size // 8, size // 8), interpolation=cv2.INTER_AREA) / 255
    clump = far.shape[1] // HAIR_CARD_CLUMPS
    width = size // HAIR_CARD_CLUMPS
    for c in range(HAIR_CARD_CLUMPS):
        middle = far[: int(0.85 * far.shape[0]), c * clump + clump // 2 - 1: c * clump + clump // 2 + 1]
        assert middle.min() > 0.5, (c, middle.min())
        assert tex[:, [c * width, c * width + 1, (c + 1) * width - 2, (c + 1) * width - 1], 3].max() == 0
    opaque = tex[..., 3] > 127
    assert np.abs(np.median(tex[opaque][:, :3].astype(float), 0) - (90, 60, 40)).max() < 10
