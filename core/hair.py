"""Hair for synthetic people (training set v2): scalp hair, eyebrows and beards, as random styles and strand
geometry. numpy (scipy to pad :func:`scalp_mask` over the UV islands' edges and to find the scalp under hair
tied back).

:func:`sample_hair` draws a style (bald, shaved, short, medium, long; fringe, parting, receding hairline,
curl) and a colour (melanin, redness, grey, dye) from a random generator; :func:`hair_strands` grows the
strands on a head: roots spread by area over the scalp (the skin above a hairline that runs from the
forehead over the ears to the nape), each strand combed away from the parting along the skull and hanging
below its widest line. The skull is an ellipsoid fitted to the head's own scalp vertices, and every strand
point stays outside it (plus a layer that thickens towards the tips), so hair lies on the head rather than
through it. Medium and long hair may be tied back (:data:`TIED`; set version 7 draws it with
:func:`sample_tied`, a user chooses it with ``core.hairstyle``): each strand then follows the scalp's own
surface to a gather point behind the head and ends in a ponytail's tail or round a bun. Eyebrows and beards (:func:`facial_hair_strands`) are short strands lying on the skin, rooted
in the skin atlas's brow and beard masks (``core.synth.mask_images``). Units: model cm.
"""

from __future__ import annotations

import numpy as np

from .facemodel import SKIN_END, FaceModel

#: the strand groups a head gets (each one object and one mask label in a render)
HAIR_GROUPS = ("hair", "brows", "beard")
#: the styles, their probabilities and strand lengths (cm)
STYLES = ("bald", "shaved", "short", "medium", "long")
STYLE_P = (0.08, 0.10, 0.34, 0.28, 0.20)
LENGTH_CM = {"bald": (0.0, 0.0), "shaved": (0.3, 0.8), "short": (2.0, 6.0), "medium": (8.0, 16.0),
             "long": (18.0, 32.0)}
#: strands per style (the render budget: about 1 s of Cycles time at 256 px for the longest)
STRANDS = {"bald": 0, "shaved": 8000, "short": 8000, "medium": 8000, "long": 8000}
POINTS_PER_STRAND = 8
#: points per strand of curled hair a user asks for (``hair["points"]``; the synthetic people's curls have 8)
CURLY_POINTS = 24
#: how much of the hair's colour the scalp's skin takes under each style (the skin between strands)
SCALP_COVER = {"bald": 0.0, "shaved": 0.55, "short": 0.8, "medium": 0.85, "long": 0.85}
#: strand radius at the root and the tip, cm (strands stand for a few hairs each)
ROOT_RADIUS_CM, TIP_RADIUS_CM = 0.02, 0.007
#: the hairline's height (cm, model y; the neutral's brows are at 6 cm, the ears' tops at 7 cm) over the
#: forehead, the temples and the nape
HAIRLINE_FRONT_CM, HAIRLINE_SIDE_CM, HAIRLINE_BACK_CM = 10.5, 3.5, -5.0
#: :func:`scalp_mask` goes from 0 to 1 over this height across the hairline (cm)
HAIRLINE_RAMP_CM = 0.4
#: where a hairline lowered at the temples (``hair["temples_cm"]``, :func:`above_hairline`) comes down furthest:
#: the azimuth (degrees from the front; the ear's front edge) and the width of the dip (degrees). The line
#: through the front, side and back heights alone runs 8.6 cm high at 45 degrees, above the ears' tops, so the
#: temples in front of the ears were bald on every head
TEMPLE_AZIMUTH_DEG, TEMPLE_WIDTH_DEG = 55.0, 15.0
#: hair whose parting ends at the crown (``hair["parting_to_crown"]``) is combed away from it less and less over
#: this distance (cm) behind the middle of the scalp, and straight down beyond (the synthetic people's parting runs
#: down the back of the head, a seam from the crown to the nape where the strands are dense)
PARTING_FADE_CM = 4.0
#: short hair tapered at the nape (``hair["nape_taper"]``): strands rooted at the back hairline are this share
#: of the hair's length, growing (with the square of the height) to the full length at the ears' tops (model y, cm)
TAPER_TOP_CM = 7.0
#: hair with a volume (``hair["volume_cm"]``, read from a photo) lies on a shell that far out from the scalp, each
#: strand at its own share of it (drawn between these), and lets go of the shell to hang over this height (cm)
#: below the skull's widest line. All on one surface, and let go at one height, lying hair rendered as a smooth
#: dome like a bald scalp's, ending in a hard line where the hair began to hang (long hair, volume 3 cm)
LYING_DEPTH, HANG_BLEND_CM = (0.5, 1.0), 3.0
#: the box around each ear (cm; |x| above the first corner's x, y and z between the corners')
EAR_BOX_CM = (np.array([6.5, -4.0, -4.0]), np.array([np.inf, 7.5, 4.5]))
#: where a fringe ends (cm, model y): just over the neutral's brows
FRINGE_END_CM = 6.5
#: hair tied back (``hair["tied"]``, medium and long hair, set version 7): the kinds, and where each gathers
#: the hair on the skull (elevation of the gather point behind the head, as a share of the way from the skull
#: ellipsoid's widest line up to its crown)
TIED = ("ponytail", "bun")
TIED_ELEVATION = {"ponytail": 0.25, "bun": 0.6}
#: points of a tied-back strand, and how many of them follow the scalp from the root to the gather point (the
#: rest make the tail or the bun). With 5 of 8, the first segment from a root at the forehead cut a chord 6 cm
#: long under the scalp (the front third of the head looked bald); 10 keep each segment within about 17 degrees
TIED_POINTS, TIED_PATH_POINTS = 14, 10
#: hair gathered in a ponytail: the strands' spread at the tie (cm), and how much of the hair's length the way
#: to the tie takes (the tail is the rest, at least ``TAIL_MIN_CM``)
TAIL_TIE_CM, TAIL_TAKEN_CM, TAIL_MIN_CM = 1.2, 6.0, 5.0
#: how far (cm) tied-back hair lies off the scalp at the root and at the gather point
TIED_LIFT_CM = (0.25, 0.8)
#: a bun's radius (cm) for hair of the shortest and longest length
BUN_RADIUS_CM = (2.5, 4.0)
#: the share of set version 7's medium and long hair tied back
TIED_P = 0.35


#: beards: styles, probabilities, strand lengths (cm) and strand counts
BEARDS = ("none", "stubble", "short", "full")
BEARD_P = (0.62, 0.18, 0.12, 0.08)
BEARD_LENGTH_CM = {"none": (0.0, 0.0), "stubble": (0.12, 0.3), "short": (0.6, 1.5), "full": (2.0, 4.0)}
BEARD_STRANDS = {"none": 0, "stubble": 7000, "short": 7000, "full": 10000}
FACIAL_POINTS = 4  #: points per eyebrow or beard strand
FACIAL_ROOT_RADIUS_CM, FACIAL_TIP_RADIUS_CM = 0.006, 0.002


def sample_hair(r: np.random.Generator, skin_melanin: float) -> dict:
    """One person's hair: plain numbers. Darker skin makes dark hair likelier; grey and dyed hair appear
    in some."""
    style = STYLES[int(r.choice(len(STYLES), p=STYLE_P))]
    lo, hi = LENGTH_CM[style]
    hair_melanin = float(np.clip(r.beta(2.0, 1.2) * 0.8 + 0.3 * skin_melanin + r.normal(0, 0.05), 0.02, 1.0))
    grey = float(r.uniform(0.3, 1.0)) if r.random() < 0.12 else 0.0
    dyed = r.random() < 0.06
    return {
        "style": style,
        "length_cm": float(r.uniform(lo, hi)),
        "fringe": bool(style in ("short", "medium", "long") and r.random() < 0.35),
        "parting_cm": float(r.choice([0.0, r.uniform(-4.0, 4.0)])),
        "recession_cm": float(r.uniform(0.0, 3.0) if r.random() < 0.3 else r.uniform(0.0, 0.8)),
        "curl_cm": float(r.uniform(0.2, 1.2) if r.random() < 0.2 else 0.0),
        "melanin": hair_melanin * (1 - grey),
        "redness": float(r.uniform(0.4, 0.9) if r.random() < 0.1 else r.uniform(0.0, 0.3)),
        "grey": grey,
        "tint_srgb": [float(x) for x in (r.uniform(0.2, 1.0, 3) if dyed else (1.0, 1.0, 1.0))],
        "roughness": float(r.uniform(0.25, 0.45)),
        "seed": int(r.integers(0, 2 ** 31 - 1)),
        "brows": {"strands": int(r.integers(500, 1400)), "length_cm": float(r.uniform(0.5, 1.1)),
                  "melanin": float(np.clip(hair_melanin + r.uniform(0.0, 0.2), 0.05, 1.0))},
        "beard": _sample_beard(r),
    }


def _sample_beard(r: np.random.Generator) -> dict:
    style = BEARDS[int(r.choice(len(BEARDS), p=BEARD_P))]
    lo, hi = BEARD_LENGTH_CM[style]
    return {"style": style, "length_cm": float(r.uniform(lo, hi)), "density": float(r.uniform(0.6, 1.0))}


def scalp_triangles(model: FaceModel, vertices: np.ndarray, recession_cm: float = 0.0,
                    temples_cm: float = 0.0) -> np.ndarray:
    """Indices into ``model.triangles`` of the skin triangles hair grows from: above a hairline around the
    head (:func:`above_hairline`), the ears left bare."""
    skin = _skin_triangles(model)
    c = vertices[model.triangles[skin]].mean(1)
    return skin[(above_hairline(c, recession_cm, temples_cm) > 0) & ~in_ears(c)]


def above_hairline(points: np.ndarray, recession_cm: float = 0.0, temples_cm: float = 0.0) -> np.ndarray:
    """Heights (cm) of ``points`` ``(N, 3)`` cm over the hairline at their azimuth, negative below it. The
    hairline runs through ``HAIRLINE_*_CM`` at the front, the sides and the back, raised by ``recession_cm`` over
    the forehead and lowered by ``temples_cm`` in front of the ears (:data:`TEMPLE_AZIMUTH_DEG`; 0: the synthetic
    people's line)."""
    theta = np.arctan2(points[:, 0], points[:, 2])  # 0 = front, +-pi = back
    front = 0.5 * (1 + np.cos(theta))
    hairline = line_around_head(theta, HAIRLINE_FRONT_CM, HAIRLINE_SIDE_CM, HAIRLINE_BACK_CM) + recession_cm * front ** 4
    if temples_cm:
        hairline -= temples_cm * np.exp(-((np.degrees(np.abs(theta)) - TEMPLE_AZIMUTH_DEG) / TEMPLE_WIDTH_DEG) ** 2)
    return points[:, 1] - hairline


def line_around_head(theta: np.ndarray, front_cm: float, side_cm: float, back_cm: float) -> np.ndarray:
    """Heights (cm, model y) of a line around the head at azimuths ``theta`` (radians about the y axis from
    the front, ``arctan2(x, z)``): ``a + b cos(theta) + c cos(2 theta)`` through the given heights at the
    front, the sides and the back (a hairline, a hat's edge, a headband)."""
    b = (front_cm - back_cm) / 2
    a = (front_cm + back_cm) / 4 + side_cm / 2
    return a + b * np.cos(theta) + (a - side_cm) * np.cos(2 * theta)


def in_ears(points: np.ndarray) -> np.ndarray:
    """Which of ``points`` ``(N, 3)`` cm lie in the box around the model's ears."""
    lo, hi = EAR_BOX_CM
    return (np.abs(points[:, 0]) > lo[0]) & (points[:, 1] > lo[1]) & (points[:, 1] < hi[1]) & (points[:, 2] > lo[2]) & \
        (points[:, 2] < hi[2])


def scalp_mask(model: FaceModel, vertices: np.ndarray, size: int, recession_cm: float = 0.0,
               temples_cm: float = 0.0) -> np.ndarray:
    """``(size, size)`` float32 in [0, 1]: where scalp hair grows in the skin atlas, both tiles (rows top to
    bottom). It ramps from 0 to 1 over ``HAIRLINE_RAMP_CM`` across the hairline of :func:`scalp_triangles`,
    followed through the triangles rather than along their edges, and is 0 on the ears. Texels off the skin
    islands take their nearest island texel's value, so a UV seam inside the scalp is not a line of lower
    values where filtering or a blur reaches over the islands' edges."""
    from scipy.ndimage import distance_transform_edt

    from .texture import barycentric, uv_raster

    islands, flat, corners, bary = uv_raster(model, size)
    height = above_hairline(vertices, recession_cm, temples_cm)
    height[in_ears(vertices)] = -HAIRLINE_RAMP_CM
    mask = np.zeros(size * size, np.float32)
    mask[flat] = np.clip(0.5 + barycentric(height[:, None], corners, bary)[:, 0] / HAIRLINE_RAMP_CM, 0.0, 1.0)
    nearest = distance_transform_edt(~islands, return_distances=False, return_indices=True)
    return mask.reshape(size, size)[nearest[0], nearest[1]]


def skull_ellipsoid(vertices: np.ndarray, scalp_vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and radii (cm) of an axis-aligned ellipsoid around the skull: the scalp's extent."""
    p = vertices[scalp_vertices]
    lo, hi = np.percentile(p, 1, axis=0), np.percentile(p, 99, axis=0)
    centre = (lo + hi) / 2
    centre[1] = hi[1] - (hi[0] - lo[0]) * 0.62  # the widest line sits this far below the crown
    radii = np.array([(hi[0] - lo[0]) / 2, hi[1] - centre[1], (hi[2] - lo[2]) / 2])
    return centre, radii


def hair_strands(model: FaceModel, vertices: np.ndarray, hair: dict) -> np.ndarray:
    """Strand points ``(N, K, 3)`` float64 cm for ``hair`` (:func:`sample_hair`) on the head ``vertices``
    ``(N_VERTICES, 3)`` cm, ``K`` = :data:`POINTS_PER_STRAND` (:data:`TIED_POINTS` for hair tied back,
    ``hair["points"]`` when given); ``(0, K, 3)`` for a bald head. Keys the synthetic people do not draw (the
    hair read from a photo has them): ``volume_cm`` (:func:`_layer`), ``temples_cm`` (:func:`above_hairline`),
    ``nape_taper`` (short hair shorter at the nape, :data:`TAPER_TOP_CM`), ``strands`` (how many, instead of
    :data:`STRANDS`' count for the style; none on a bald head), ``parting_to_crown`` (:data:`PARTING_FADE_CM`)."""
    n = STRANDS[hair["style"]] and hair.get("strands", STRANDS[hair["style"]])
    K = TIED_POINTS if hair.get("tied") else hair.get("points", POINTS_PER_STRAND)
    if n == 0:
        return np.zeros((0, K, 3))
    r = np.random.default_rng(hair["seed"])
    tris = scalp_triangles(model, vertices, hair["recession_cm"], hair.get("temples_cm", 0.0))
    roots, _ = _roots(vertices[model.triangles[tris]], n, r)
    scalp = vertices[np.unique(model.triangles[tris])]
    centre, radii = skull_ellipsoid(vertices, np.unique(model.triangles[tris]))
    if hair.get("tied"):
        return _tied_strands(roots, scalp, centre, radii, hair, r)
    # hair with a volume (read from a photo) lies that far out from the scalp itself, not the ellipsoid: the scalp
    # bulges beyond it, and the synthetic people's hair, stepping along it, rises up to 2.4 cm off the crown
    shell = None if hair.get("volume_cm") is None else _scalp_surface(scalp, centre, radii)
    depth = None if shell is None else r.uniform(*LYING_DEPTH, n)
    length = hair["length_cm"] * r.uniform(0.8, 1.15, n)
    if hair.get("nape_taper") and hair["style"] in ("shaved", "short"):
        low = np.clip((roots[:, 1] - HAIRLINE_BACK_CM) / (TAPER_TOP_CM - HAIRLINE_BACK_CM), 0.0, 1.0)
        length *= hair["nape_taper"] + (1.0 - hair["nape_taper"]) * low ** 2
    front = _front_weight(roots, centre, radii)
    if hair["fringe"]:  # the strands combed forward end over the brows
        cut = front > 0
        length[cut] = np.minimum(length[cut], np.maximum(roots[cut, 1] - FRINGE_END_CM, 1.0) / np.maximum(front[cut], 0.3))
    comb = _comb_directions(roots, front, hair, centre)
    pts = np.empty((n, K, 3))
    pts[:, 0] = roots
    for k in range(1, K):
        layer = _layer(hair, k / (K - 1))
        normal = _ellipsoid_normal(pts[:, k - 1], centre, radii + layer)
        want = comb + r.normal(0, 0.12, comb.shape)
        d = want - (want * normal).sum(1, keepdims=True) * normal  # along the skull
        fall = _falling(pts[:, k - 1, 1], centre, shell is not None)
        d = d * (1.0 - fall[:, None]) + want * [0.3, 1.0, 0.3] * fall[:, None]  # below its widest line hair falls
        if k == 1:
            d += normal * 0.6  # roots leave the scalp
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        step = d * (length / (K - 1))[:, None]
        if hair["curl_cm"]:
            phase = r.uniform(0, 2 * np.pi, n) + k * 1.7
            step += hair["curl_cm"] * np.stack([np.cos(phase), np.zeros(n), np.sin(phase)], 1) * 0.5
        pts[:, k] = _outside(pts[:, k - 1] + step, centre, radii + layer)
        if shell is not None:   # lying hair on the shell its share of ``layer`` out, hanging hair at least that far
            surface = shell(_unit_rows((pts[:, k] - centre) / radii), layer * depth)
            inside = np.linalg.norm(pts[:, k] - centre, axis=1) < np.linalg.norm(surface - centre, axis=1)
            hold = np.where(inside, 1.0, 1.0 - _falling(pts[:, k, 1], centre, True))
            pts[:, k] += (surface - pts[:, k]) * hold[:, None]
    return pts


def _falling(y: np.ndarray, centre: np.ndarray, gradual: bool) -> np.ndarray:
    """(M,) how far hair at the heights ``y`` (cm) hangs instead of following the skull: 0 down to 1 cm below the
    skull's widest line (``centre``'s height), 1 below; ``gradual``: rising to 1 over :data:`HANG_BLEND_CM` below
    that (hair with a volume)."""
    below = centre[1] - 1.0 - y
    if not gradual:
        return (below > 0).astype(np.float64)
    return np.clip(below / HANG_BLEND_CM, 0.0, 1.0)


def _layer(hair: dict, t: float) -> float:
    """How far (cm) out from the skull ellipsoid loose hair lies at the fraction ``t`` of its length: the
    synthetic people's hair rises to 0.72 cm at its tips (less when short); hair with a ``volume_cm`` (read from
    a photo) stands that far out from a third of its length on (at most half its length)."""
    if hair.get("volume_cm") is None:
        return 0.12 + 0.6 * t * min(1.0, hair["length_cm"] / 6.0)
    return 0.12 + (min(hair["volume_cm"], hair["length_cm"] / 2) - 0.12) * min(1.0, 3.0 * t)


def sample_tied(r: np.random.Generator, hair: dict) -> str | None:
    """Set version 7: whether ``hair`` (:func:`sample_hair`) is tied back, and how (:data:`TIED`); only medium and
    long hair without a fringe is."""
    if hair["style"] not in ("medium", "long") or hair["fringe"] or r.random() >= TIED_P:
        return None
    return TIED[int(r.integers(len(TIED)))]


def _tied_strands(roots: np.ndarray, scalp: np.ndarray, centre: np.ndarray, radii: np.ndarray, hair: dict,
                  r: np.random.Generator) -> np.ndarray:
    """Strands ``(n, TIED_POINTS, 3)`` cm of hair tied back (``hair["tied"]``) rooted at ``roots`` on the
    ``scalp`` (its vertices, cm): from each root over the scalp (along the great circle of the skull ellipsoid
    ``centre``, ``radii``, lying on the scalp's own surface) to the gather point behind the head, then a tail
    hanging down and back (a ponytail) or a coil around a ball (a bun)."""
    n, K, P = len(roots), TIED_POINTS, TIED_PATH_POINTS
    kind = hair["tied"]
    up = TIED_ELEVATION[kind]
    on_scalp = _scalp_surface(scalp, centre, radii)
    gather = _unit_rows(np.array([[0.0, up, -np.sqrt(1 - up ** 2)]]))[0]   # a direction on the unit sphere
    start = _unit_rows((roots - centre) / radii)
    angle = np.arccos(np.clip(start @ gather, -1.0, 1.0))
    pts = np.empty((n, K, 3))
    for k in range(P):
        t = k / (P - 1)
        # spherical interpolation from the root to the gather point, lifted off the scalp as the hair gathers
        w0 = np.sin((1 - t) * angle) / np.maximum(np.sin(angle), 1e-6)
        w1 = np.sin(t * angle) / np.maximum(np.sin(angle), 1e-6)
        e = np.where(angle[:, None] > 1e-3, w0[:, None] * start + w1[:, None] * gather, start)
        pts[:, k] = on_scalp(_unit_rows(e), TIED_LIFT_CM[0] + (TIED_LIFT_CM[1] - TIED_LIFT_CM[0]) * t)
    pts[:, 0] = roots
    tie = pts[:, P - 1] + r.normal(0, TAIL_TIE_CM / 2, (n, 3)) * [1.0, 1.0, 0.3]
    pts[:, P - 1] = tie
    if kind == "ponytail":
        pts[:, P:] = _ponytail(tie, hair["length_cm"], K - P, r)
    else:
        pts[:, P:] = _bun(on_scalp, gather, hair["length_cm"], n, K - P, r)
    for k in range(1, K):  # nothing under the scalp
        surface = on_scalp(_unit_rows((pts[:, k] - centre) / radii), TIED_LIFT_CM[0])
        under = np.linalg.norm(pts[:, k] - centre, axis=1) < np.linalg.norm(surface - centre, axis=1)
        pts[under, k] = surface[under]
    return pts


def _ponytail(tie: np.ndarray, length_cm: float, points: int, r: np.random.Generator) -> np.ndarray:
    """``(n, points, 3)`` cm: the tail of each strand tied at ``tie`` ``(n, 3)``, hanging down and back for what
    the way to the tie leaves of ``length_cm``, fanning out below the tie and standing off the head."""
    n = len(tie)
    tail = max(length_cm - TAIL_TAKEN_CM, TAIL_MIN_CM) * r.uniform(0.8, 1.1, n)
    down = _unit_rows(np.c_[r.normal(0, 0.12, n), -np.ones(n), -0.35 + r.normal(0, 0.1, n)])
    s = np.arange(1, points + 1) / points
    return tie[:, None] + down[:, None] * (tail[:, None] * s)[..., None] + \
        np.array([0.0, 0.0, -1.5]) * np.sin(np.pi * s)[None, :, None]


def _bun(on_scalp, gather: np.ndarray, length_cm: float, n: int, points: int, r: np.random.Generator) -> np.ndarray:
    """``(n, points, 3)`` cm: ``n`` strands each winding a third of a turn, in a plane of its own, round a ball on
    the scalp (``on_scalp``, :func:`_scalp_surface`) in the ``gather`` direction, as wide as the hair is long
    (:data:`BUN_RADIUS_CM`)."""
    rad = np.interp(length_cm, (LENGTH_CM["medium"][0], LENGTH_CM["long"][1]), BUN_RADIUS_CM)
    ball = on_scalp(gather[None], TIED_LIFT_CM[1] + rad * 0.8)[0]
    axis = _unit_rows(r.normal(0, 1, (n, 3)))
    u = _unit_rows(np.cross(axis, gather[None].repeat(n, 0)) + 1e-6)
    v = np.cross(axis, u)
    phi = r.uniform(0, 2 * np.pi, n)[:, None] + 2.1 * np.arange(1, points + 1) / points    # (n, points)
    size = rad * r.uniform(0.75, 1.0, (points, n)).T
    return ball + size[..., None] * (np.cos(phi)[..., None] * u[:, None] + np.sin(phi)[..., None] * v[:, None])


def _scalp_surface(scalp: np.ndarray, centre: np.ndarray, radii: np.ndarray):
    """A function ``(directions (M, 3) unit in the skull ellipsoid's normalised space, lift cm) -> (M, 3) cm``:
    the point that far out from the ``scalp`` (vertices, cm) in each direction from ``centre``. The scalp bulges
    up to a fifth beyond the ellipsoid (fitted to its extent), so hair laid on the ellipsoid would lie under the
    skin. The scalp's radius in a direction is the largest of its nearest vertices'."""
    from scipy.spatial import cKDTree

    d = (scalp - centre) / radii
    reach = np.linalg.norm(d, axis=1)
    tree = cKDTree(d / reach[:, None])

    def at(e: np.ndarray, lift) -> np.ndarray:
        _, near = tree.query(e, k=8)
        p = e * radii * reach[near].max(1)[:, None]
        return centre + p * (1 + np.asarray(lift) / np.linalg.norm(p, axis=1))[:, None]
    return at


def _unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def hair_srgb(melanin: float, redness: float) -> tuple[float, float, float]:
    """An sRGB colour close to what the Principled Hair BSDF shows for ``melanin`` and ``redness``: from
    light blond through brown (red with redness) to black."""
    blond, red, dark = np.array([0.78, 0.64, 0.42]), np.array([0.55, 0.24, 0.1]), np.array([0.04, 0.03, 0.025])
    light = blond * (1 - redness) + red * redness
    t = np.clip(melanin, 0.0, 1.0) ** 0.6
    return tuple(float(x) for x in light * (1 - t) + dark * t)


def strand_radii(points: int = POINTS_PER_STRAND) -> np.ndarray:
    """``(points,)`` cm: each scalp strand's radius from root to tip (strands of ``points`` points)."""
    return np.linspace(ROOT_RADIUS_CM, TIP_RADIUS_CM, points)


def facial_strand_radii(scale: float = 1.0) -> np.ndarray:
    """``(FACIAL_POINTS,)`` cm: each eyebrow or beard strand's radius from root to tip, ``scale`` times the
    usual (a strand stands for several hairs)."""
    return scale * np.linspace(FACIAL_ROOT_RADIUS_CM, FACIAL_TIP_RADIUS_CM, FACIAL_POINTS)


def visible_brows(r: np.random.Generator, hair: dict) -> dict:
    """Eyebrows that show in a 224 px render (synthetic set version 3), for the person with ``hair``
    (:func:`sample_hair`): 1,400-3,200 strands (version 2: 500-1,400), each standing for two hairs (1.6 times
    as wide), and darker than the scalp hair as most people's are (melanin at least 0.35-0.9), faded with
    grey hair."""
    grey = hair["grey"]
    scalp = hair["melanin"] / (1.0 - grey) if grey < 1.0 else 0.0   # the hair's own colour before it greyed
    melanin = max(scalp, float(r.uniform(0.35, 0.9))) * (1.0 - 0.7 * grey)
    return {"strands": int(r.integers(1400, 3200)), "length_cm": float(r.uniform(0.6, 1.1)),
            "melanin": float(np.clip(melanin, 0.05, 1.0)), "radius_scale": 1.6}


def uv_region_triangles(model: FaceModel, mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Indices into ``model.triangles`` of the skin triangles whose atlas-UV centroid lies where ``mask``
    (``(S, S)`` float, rows top to bottom, as ``core.synth.mask_images``) is at least ``threshold``."""
    S = mask.shape[0]
    skin = _skin_triangles(model)
    uv = model.loop_uv[model.triangle_loops[skin]].mean(1)
    x = np.clip((uv[:, 0] * S).astype(int), 0, S - 1)
    y = np.clip(((1 - uv[:, 1]) * S).astype(int), 0, S - 1)
    return skin[mask[y, x] >= threshold]


def facial_hair_strands(model: FaceModel, vertices: np.ndarray, hair: dict,
                        masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Eyebrow and beard strands ``{"brows": (N, FACIAL_POINTS, 3), "beard": (M, FACIAL_POINTS, 3)}`` cm on
    the head ``vertices``, rooted in ``masks["brows"]`` and ``masks["beard"]`` (``core.synth.mask_images``):
    brow hairs point outwards and a little up, beard hairs down, all lying on the skin."""
    r = np.random.default_rng(hair["seed"] + 1)
    out = {}
    brows, beard = hair["brows"], hair["beard"]
    out["brows"] = _surface_strands(model, vertices, uv_region_triangles(model, masks["brows"]), brows["strands"],
                                    brows["length_cm"], (1.0, 0.35, 0.0), r)
    n = int(BEARD_STRANDS[beard["style"]] * beard["density"])
    out["beard"] = _surface_strands(model, vertices, uv_region_triangles(model, masks["beard"], 0.35), n,
                                    beard["length_cm"], (0.25, -1.0, 0.15), r)
    return out


def _skin_triangles(model: FaceModel) -> np.ndarray:
    """Indices into ``model.triangles`` of the skin's triangles (face, head and neck)."""
    return np.flatnonzero((model.triangles < SKIN_END).all(1))


def _roots(corners: np.ndarray, n: int, r: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points spread by area over the triangles ``corners`` ``(T, 3, 3)``, and each one's triangle."""
    area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    pick = r.choice(len(corners), n, p=area / area.sum())
    s, t = np.sqrt(r.random(n)), r.random(n)
    bary = np.stack([1 - s, s * (1 - t), s * t], 1)
    return (corners[pick] * bary[:, :, None]).sum(1), pick


def _surface_strands(model: FaceModel, vertices: np.ndarray, tris: np.ndarray, n: int, length_cm: float,
                     comb: tuple[float, float, float], r: np.random.Generator) -> np.ndarray:
    """``n`` short strands rooted on the triangles ``tris``, each along ``comb`` = (outwards from the face's
    midline, up, forwards) flattened onto its triangle's plane with a slight lift off the skin.
    ``(n, FACIAL_POINTS, 3)`` cm."""
    K = FACIAL_POINTS
    if n == 0 or len(tris) == 0 or length_cm <= 0:
        return np.zeros((0, K, 3))
    corners = vertices[model.triangles[tris]]
    roots, pick = _roots(corners, n, r)
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])[pick]
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    want = np.stack([comb[0] * np.sign(roots[:, 0]), np.full(n, comb[1]), np.full(n, comb[2])], 1)
    want += r.normal(0, 0.25, (n, 3))
    d = want - (want * normal).sum(1, keepdims=True) * normal + 0.25 * normal
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    length = length_cm * r.uniform(0.7, 1.2, n)
    steps = np.arange(K)[None, :, None] / (K - 1)
    droop = -0.15 * normal[:, None, :] * steps ** 2 * length[:, None, None]  # tips curve back to the skin
    return roots[:, None, :] + d[:, None, :] * steps * length[:, None, None] + droop


def _front_weight(roots: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """0 at the temples -> 1 over the forehead: how much a strand is combed like the front ones."""
    return np.clip((roots[:, 2] - centre[2] - 0.2 * radii[2]) / (0.4 * radii[2]), 0.0, 1.0)


def _comb_directions(roots: np.ndarray, front: np.ndarray, hair: dict, centre: np.ndarray) -> np.ndarray:
    """Unit vectors each strand is combed along: down and away from the parting; the front strands (by
    ``front``, :func:`_front_weight`) turn to forward and down with a fringe, up and back over the crown
    without, so no long strand crosses the face. ``centre``: the skull's (:func:`skull_ellipsoid`)."""
    comb = np.zeros_like(roots)
    side = roots[:, 0] - hair["parting_cm"]
    comb[:, 0] = np.where(np.abs(side) < 0.3, 0.0, np.sign(side)) * 0.35
    if hair.get("parting_to_crown"):   # the parting ends at the crown: behind it the hair falls straight down
        behind = np.clip((centre[2] - roots[:, 2]) / PARTING_FADE_CM, 0.0, 1.0)
        comb[:, 0] = np.tanh(side / 0.5) * 0.35 * (1.0 - behind)
    comb[:, 1] = -1.0
    comb[:, 2] = -0.4
    towards = np.array([0.0, -1.0, 0.4]) if hair["fringe"] else np.array([0.0, 0.3, -1.0])
    comb = comb * (1 - front[:, None]) + towards * front[:, None]
    return comb / np.linalg.norm(comb, axis=1, keepdims=True)


def _ellipsoid_normal(p: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    g = (p - centre) / radii ** 2
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _outside(p: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """``p`` with the points inside the ellipsoid moved out radially onto it."""
    e = (p - centre) / radii
    r = np.linalg.norm(e, axis=1)
    inside = r < 1.0
    p = p.copy()
    p[inside] = centre + e[inside] / r[inside, None] * radii
    return p
