"""The person's hair, read from the photo: the style parameters of ``core.hair``'s strand generator (the one
the synthetic people grow their hair with) and the hair's colour. Pure numpy/OpenCV.

Everything is measured on the fitted head, in model cm, through the photo camera, on SegNet's hair
probabilities (``core.segment``):

* **coverage**: the share of the scalp the camera sees (face on or edge on), 1 cm out from the skin, that
  shows hair, of what is not covered by something else; under ``BALD_COVERAGE`` the head is bald, unless a
  hat (or a hand) covers ``COVERED_SCALP`` of it, when the hair under it cannot be seen;
* **length**: how far down hair reaches beside the head (strips 0–5 cm out from its widest point at the
  ears' height): 2 cm below the chin is long, 3 cm below the ear lobes medium, else short;
* **fringe**: hair over the middle of the forehead, between the brows and the usual hairline;
* **hairline**: where the skin of the forehead ends, as a recession above the generator's usual hairline;
* **volume**: how far the hair stands out from the scalp where the camera sees the scalp edge on (the top and
  the sides of the head above the ears): the median, over those scalp points, of how far hair reaches out from
  each along its normal (gaps of at most 1 cm);
* **colour**: the median of the clearest hair pixels (CIELAB), and the melanin and redness whose rendered
  colour (:data:`RENDERED_HAIR_SRGB`) comes nearest to it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .camera import Camera
from .facemodel import LANDMARKS_68, FaceModel
from .errors import ConfigError
from .hair import (CURLY_POINTS, FRINGE_END_CM, HAIRLINE_FRONT_CM, LENGTH_CM, SCALP_COVER, TIED, scalp_mask,
                   scalp_triangles)
from .segment import HAIR, OTHER, Segmentation

#: under this share of the seen scalp showing hair, the head is bald (on 280 held-out renders, `make bench-hair`:
#: 0.15 reads bald heads best, 0.25 took a third of the shaved and short ones for bald)
BALD_COVERAGE = 0.15
#: a hat (SegNet's "other") over this share of the seen scalp hides the hair under it: the head is not called bald
#: and has no receding hairline
COVERED_SCALP = 0.5
SHORT_CM = 4.0             #: the length (cm) of hair read as short
HAIR_OUT_CM = 1.0          #: how far out from the scalp hair is looked for
#: the volume (cm) is measured on scalp points above this model y (cm; the ears' tops), seen edge on (the cosine
#: between their normal and the view under ``VOLUME_EDGE_ON``), out to ``VOLUME_RANGE_CM`` in steps of
#: ``VOLUME_STEP_CM``; it is read within ``VOLUME_CM``
VOLUME_ABOVE_Y = 4.0
VOLUME_EDGE_ON = 0.2
VOLUME_RANGE_CM, VOLUME_STEP_CM = 10.0, 0.5
VOLUME_CM = (0.5, 5.0)
#: the photo's hair grows from a hairline lowered this much (cm) at the temples (``core.hair.above_hairline``) and,
#: when short, is this share of its length at the nape (``core.hair``'s ``nape_taper``): the synthetic people's
#: line left the temples bald and their short hair hung 4 cm down the neck from the nape, a mullet on every
#: short-haired head seen from the side or the back
TEMPLES_CM = 3.0
NAPE_TAPER = 0.25
#: strands of the photo's hair (the synthetic people have ``core.hair.STRANDS``' 8,000, their render budget)
PHOTO_STRANDS = 24000
#: how much a user may curl the hair (``core.hair``'s ``curl_cm``, cm: how far each step of a strand turns aside);
#: a photo's hair is grown straight
CURL_CM = (0.0, 2.0)
HAIR_GAP_CM = 3.0          #: hair going down beside the head may be hidden this long (a shoulder, a hand)
CLEAR_HAIR_P = 0.8         #: the pixels whose colour is the hair's
FRINGE_SHARE = 0.4         #: forehead points showing hair for a fringe
CHIN_Y, EAR_LOBE_Y = -7.6, 0.0  #: the mean face's chin and ear lobes, model y (cm)
#: hair is medium when it reaches this far below the ear lobes, long when it reaches 2 cm below the chin. On the
#: held-out renders 0 cm reads the style best (67.5 % right against 58.9 %), but on the real photos short-haired
#: men (prnet_0, prnet_trump, prnet_2) then get medium hair: a dark collar or sideburns just under the lobes
#: pass for hair. The renders' short hair never reaches there; real short hair does.
MEDIUM_BELOW_LOBE_CM = 3.0
#: what a head's hair shows on the stage of ``head.blend`` (studio world, key and rim light; sRGB, AgX view) seen
#: from the front, with Blender's Principled Hair BSDF at melanin 0, 0.1 ... 1 (rows) and redness 0, 0.5, 1 (columns):
#: ``scripts/calibrate_hair_colour.py --stage``, 2026-12-05, with the photo's hair's :data:`PHOTO_STRANDS` (with
#: 8,000 strands the same hair showed 10-30 levels lighter: sparser hair shadows itself less). A photo's hair colour
#: is matched against it, so the strands show the photo's colour there, as the skin texture does. Until 2026-12-05
#: the table was a thin patch of strands in a uniform white world (``scripts/calibrate_hair_colour.py``): a head of
#: hair shows 10-40 levels lighter than that patch (light scatters through its depth), and the hair on the stage
#: came out lighter than the photo's (``core.hair.hair_srgb`` agrees with the patch within 4-8 CIELAB units for
#: melanin 0.2-0.8 without redness, but makes red hair far redder than the BSDF does, and melanin 0 blond, not grey).
RENDERED_HAIR_SRGB = (
    ((173, 175, 176), (173, 175, 176), (173, 175, 176)),
    ((158, 144, 122), (161, 145, 120), (163, 144, 114)),
    ((141, 119, 90), (138, 114, 78), (153, 121, 76)),
    ((116, 91, 63), (123, 94, 60), (132, 99, 57)),
    ((99, 77, 51), (103, 77, 47), (116, 80, 46)),
    ((79, 60, 41), (86, 61, 40), (99, 66, 40)),
    ((64, 48, 38), (69, 48, 35), (82, 54, 38)),
    ((59, 46, 39), (63, 47, 37), (76, 49, 36)),
    ((53, 43, 38), (57, 45, 37), (62, 44, 36)),
    ((45, 41, 37), (48, 42, 36), (49, 40, 34)),
    ((35, 37, 38), (36, 37, 38), (36, 37, 37)),
)


#: the hair styles a user may choose instead of the one read from the photo ("photo"): the generator's length
#: classes, and medium or long hair tied back (:data:`core.hair.TIED`). The photo still gives the colour and
#: the hairline; a length class it did not read gets that class's usual length
HAIR_STYLES = ("photo", "bald", "short", "medium", "long") + TIED


@dataclass
class PhotoHair:
    """The hair measured in the photo (see the module), or in a style a user chose (:meth:`choose`)."""

    style: str                 #: "bald", "short", "medium" or "long" (``core.hair.STYLES``)
    length_cm: float
    fringe: bool
    recession_cm: float
    srgb: tuple[int, int, int] #: the hair's colour in the photo, 8-bit sRGB
    melanin: float
    redness: float
    coverage: float            #: share of the scalp facing the camera that shows hair (of what is not covered)
    covered: float = 0.0       #: share of the scalp facing the camera that something else covers (a hat)
    volume_cm: float | None = None  #: how far the hair stands out from the scalp (None: the generator's usual)
    curl_cm: float = 0.0       #: how curly (0: straight; set by a user, :meth:`adjusted`)
    tied: str | None = None    #: "ponytail" or "bun" when the hair is tied back (chosen, not read), else None
    chosen: bool = False       #: the style was chosen by the user (:meth:`choose`), not read from the photo
    read: "PhotoHair | None" = None  #: when chosen, the hair as the photo showed it

    def generator(self, seed: int = 0) -> dict:
        """The parameters of ``core.hair.hair_strands`` (as ``core.hair.sample_hair`` draws them)."""
        params = {"style": self.style, "length_cm": self.length_cm, "fringe": self.fringe, "parting_cm": 0.0,
                  "recession_cm": self.recession_cm, "curl_cm": self.curl_cm, "melanin": self.melanin,
                  "redness": self.redness, "grey": 0.0, "tint_srgb": [1.0, 1.0, 1.0], "roughness": 0.35,
                  "seed": seed, "tied": self.tied, "volume_cm": self.volume_cm, "temples_cm": TEMPLES_CM,
                  "nape_taper": NAPE_TAPER, "strands": PHOTO_STRANDS, "parting_to_crown": True}
        if self.curl_cm:   # curls need more points than a strand's usual 8
            params["points"] = CURLY_POINTS
        return params

    def choose(self, style: str) -> "PhotoHair":
        """The hair the photo showed in the ``style`` a user chose (:data:`HAIR_STYLES`; "photo": as read): the
        colour and hairline stay the photo's; the length stays the photo's when it is of the chosen class (else
        the class's usual one); tied-back hair is medium or long as read (else medium), with no fringe."""
        check_hair_style(style)
        read = self.read or self
        if style == "photo":
            return read
        if style in TIED:
            cls = read.style if read.style in ("medium", "long") else "medium"
            return replace(read, style=cls, length_cm=read._length(cls), fringe=False, tied=style, chosen=True,
                           read=read)
        return replace(read, style=style, length_cm=read._length(style), fringe=read.fringe and style != "bald",
                       recession_cm=0.0 if style == "bald" else read.recession_cm, tied=None, chosen=True, read=read)

    def adjusted(self, length_cm: float | None = None, volume_cm: float | None = None,
                 curl_cm: float | None = None) -> "PhotoHair":
        """This hair with a length, volume or curl a user set (None: as it is), each checked against what the
        generator grows (the length within this style's class, :data:`core.hair.LENGTH_CM`; :data:`VOLUME_CM`;
        :data:`CURL_CM`): a :class:`~headforge.core.errors.ConfigError` says the range. Bald hair takes none."""
        wants = {"length_cm": length_cm, "volume_cm": volume_cm, "curl_cm": curl_cm}
        wants = {k: float(v) for k, v in wants.items() if v is not None}
        if not wants or self.style == "bald":
            return self
        check_hair_measures(volume_cm, curl_cm)
        lo, hi = LENGTH_CM[self.style]
        if length_cm is not None and not lo <= length_cm <= hi:
            raise ConfigError(f"{length_cm:g} cm is out of range for {self.style} hair: give {lo:g}-{hi:g} cm or "
                              "choose another style.")
        return replace(self, **wants, chosen=True, read=self.read or self)

    def _length(self, style: str) -> float:
        """The hair's length (cm) in the length class ``style``: the photo's when it read that class."""
        if style == self.style:
            return self.length_cm
        return {"bald": 0.0, "short": SHORT_CM}.get(style, float(np.mean(LENGTH_CM[style])))

    def to_dict(self) -> dict:
        """``fit.json``'s ``hair`` (with ``read``, the photo's own, when the style was chosen)."""
        d = {"style": self.style, "length_cm": round(self.length_cm, 2), "fringe": self.fringe,
             "tied": self.tied, "chosen": self.chosen, "recession_cm": round(self.recession_cm, 2),
             "volume_cm": None if self.volume_cm is None else round(self.volume_cm, 2),
             "curl_cm": round(self.curl_cm, 2), "srgb": list(self.srgb),
             "melanin": round(self.melanin, 3), "redness": round(self.redness, 3),
             "scalp_coverage": round(self.coverage, 3), "scalp_covered": round(self.covered, 3)}
        if self.read is not None:
            d["read"] = self.read.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PhotoHair":
        """The hair :meth:`to_dict` wrote (to its rounding)."""
        return cls(style=d["style"], length_cm=float(d["length_cm"]), fringe=bool(d["fringe"]),
                   recession_cm=float(d["recession_cm"]), srgb=tuple(int(c) for c in d["srgb"]),
                   melanin=float(d["melanin"]), redness=float(d["redness"]), coverage=float(d["scalp_coverage"]),
                   covered=float(d.get("scalp_covered", 0.0)), tied=d.get("tied"), chosen=bool(d.get("chosen")),
                   volume_cm=None if d.get("volume_cm") is None else float(d["volume_cm"]),
                   curl_cm=float(d.get("curl_cm", 0.0)),
                   read=cls.from_dict(d["read"]) if d.get("read") else None)


def check_hair_measures(volume_cm: float | None = None, curl_cm: float | None = None) -> None:
    """A :class:`~headforge.core.errors.ConfigError` naming the range when a volume or curl a user set (None: not
    set) is beyond what the generator grows (:data:`VOLUME_CM`, :data:`CURL_CM`)."""
    for v, (lo, hi), what in ((volume_cm, VOLUME_CM, "the hair's volume"), (curl_cm, CURL_CM, "the curl")):
        if v is not None and not lo <= v <= hi:
            raise ConfigError(f"{v:g} cm is out of range for {what}: give {lo:g}-{hi:g} cm.")


def check_hair_style(style: str) -> None:
    """Raise :class:`~headforge.core.errors.ConfigError` unless ``style`` is one of :data:`HAIR_STYLES`."""
    if style not in HAIR_STYLES:
        raise ConfigError(f"Unknown hair style {style!r}: choose one of {', '.join(HAIR_STYLES)} "
                          "(\"photo\" reads it from the photo).")


def hair_from_photo(model: FaceModel, vertices: np.ndarray, camera: Camera, image: np.ndarray,
                    seg: Segmentation) -> PhotoHair:
    """The hair of the head ``vertices`` ``(N, 3)`` cm, fitted to ``image`` ``(H, W, 3)`` uint8 sRGB as seen by
    ``camera``, from its segmentation ``seg``."""
    def classes(pts):  # model cm -> the photo's likeliest class there
        return seg.at(camera.project(pts)).argmax(1)

    def is_hair(pts):
        return classes(pts) == HAIR

    coverage, covered = _scalp_coverage(model, vertices, camera, classes)
    hat = covered >= COVERED_SCALP
    srgb = _hair_colour(image, seg)
    melanin, redness = _melanin_redness(srgb)
    if coverage < BALD_COVERAGE and not hat:
        return PhotoHair("bald", 0.0, False, 0.0, srgb, melanin, redness, coverage, covered)
    lowest = _hair_end_y(vertices, is_hair)
    # the mean face's chin and lobes moved with this head's own chin
    shift = vertices[LANDMARKS_68[8], 1] - CHIN_Y
    if lowest < CHIN_Y + shift - 2.0:
        style, length = "long", 12.0 + (EAR_LOBE_Y + shift - lowest)
    elif lowest < EAR_LOBE_Y + shift - MEDIUM_BELOW_LOBE_CM:
        style, length = "medium", 8.0 + (EAR_LOBE_Y + shift - lowest)
    else:
        style, length = "short", SHORT_CM
    length = float(np.clip(length, *LENGTH_CM[style]))
    fringe, hairline = _forehead(vertices, is_hair)
    recession = 0.0 if fringe or hat else float(np.clip(hairline - HAIRLINE_FRONT_CM, 0.0, 4.0))
    volume = None if hat else _volume(model, vertices, camera, is_hair)
    return PhotoHair(style, length, fringe, recession, srgb, melanin, redness, coverage, covered, volume)


def _volume(model: FaceModel, vertices: np.ndarray, camera: Camera, is_hair) -> float | None:
    """How far (cm) hair stands out from the scalp the camera sees edge on above the ears (see the module), within
    :data:`VOLUME_CM`; None when the camera sees no scalp edge on."""
    ids, n, facing = _scalp_facing(model, vertices, camera)
    edge = (np.abs(facing) < VOLUME_EDGE_ON) & (vertices[ids, 1] > VOLUME_ABOVE_Y)
    if not edge.any():
        return None
    out = np.arange(VOLUME_STEP_CM, VOLUME_RANGE_CM + 1e-9, VOLUME_STEP_CM)
    pts = vertices[ids[edge]][:, None] + out[None, :, None] * n[edge][:, None]
    hair = is_hair(pts.reshape(-1, 3)).reshape(pts.shape[:2])
    reach = np.zeros(len(hair))
    for i, h in enumerate(hair):
        on = np.flatnonzero(h)
        if len(on) == 0 or out[on[0]] > 1.0:  # hair must start at the scalp
            continue
        gaps = np.flatnonzero(np.diff(out[on]) > 1.0 + 1e-9)
        reach[i] = out[on[gaps[0]] if len(gaps) else on[-1]]
    return float(np.clip(np.median(reach), *VOLUME_CM))


def _scalp_facing(model: FaceModel, vertices: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray,
                                                                                 np.ndarray]:
    """The scalp's vertices (indices), their normals ``(S, 3)`` and how squarely each faces the camera (the
    cosine between its normal and the way to the camera: 1 face on, 0 edge on, below 0 turned away)."""
    ids = np.unique(model.triangles[scalp_triangles(model, vertices)])
    n = model.vertex_normals(vertices)[ids]
    y = camera.to_camera(vertices[ids])
    return ids, n, ((n @ camera.rotation.T) * -y).sum(1) / np.linalg.norm(y, axis=1)


def _scalp_coverage(model: FaceModel, vertices: np.ndarray, camera: Camera, classes) -> tuple[float, float]:
    """Of the scalp the camera sees, face on or edge on, ``HAIR_OUT_CM`` out from the skin (where hair lies,
    and where a bald head shows background): the share that shows hair of what "other" does not cover, and
    the share that "other" covers (a hat)."""
    ids, n, facing = _scalp_facing(model, vertices, camera)
    seen = facing > -0.1
    if not seen.any():
        return 0.0, 0.0
    c = classes(vertices[ids[seen]] + HAIR_OUT_CM * n[seen])
    bare = c != OTHER
    return (float(np.mean(c[bare] == HAIR)) if bare.any() else 0.0), float(1.0 - bare.mean())


def _hair_end_y(vertices: np.ndarray, is_hair) -> float:
    """The lowest model y (cm) to which hair reaches from the ears' height, with gaps of at most ``HAIR_GAP_CM``,
    beside the head: at each height, on a strip 0–5 cm out from the head's widest point at the ears, in the
    plane of the ears and 3 cm behind it; the ears' height when no strip shows hair there."""
    near_ear = np.abs(vertices[:, 1] - 3.0) < 1.5
    out = np.abs(vertices[near_ear, 0]).max()
    ys = np.arange(3.0, -30.0, -0.5)
    xs, zs = np.arange(0.0, 5.5, 1.0), (0.0, -3.0)
    lowest = 3.0
    for side in (-1.0, 1.0):
        grid = np.array([[side * (out + x), y, z] for y in ys for x in xs for z in zs])
        hair = np.flatnonzero(is_hair(grid).reshape(len(ys), -1).any(1))
        if len(hair) == 0 or ys[hair[0]] < ys[0] - HAIR_GAP_CM:
            continue
        gaps = np.flatnonzero(np.diff(ys[hair]) < -HAIR_GAP_CM)
        lowest = min(lowest, ys[hair[gaps[0]] if len(gaps) else hair[-1]])
    return float(lowest)


def _forehead(vertices: np.ndarray, is_hair) -> tuple[bool, float]:
    """(a fringe covers the forehead, the forehead's hairline height in model cm): on the skin's front
    vertices within 2.5 cm of the middle, from the brows up."""
    brow_y = vertices[LANDMARKS_68[[19, 24]], 1].mean()
    front = (np.abs(vertices[:, 0]) < 2.5) & (vertices[:, 2] > vertices[:, 2].max() - 6.0)
    ids = np.flatnonzero(front & (vertices[:, 1] > brow_y + 0.8))
    if len(ids) == 0:
        return False, HAIRLINE_FRONT_CM
    ids = ids[np.argsort(vertices[ids, 1])]
    hair = is_hair(vertices[ids])
    y = vertices[ids, 1]
    low = y < FRINGE_END_CM + 2.0  # the band a fringe lies on, just over the brows
    fringe = bool(low.any() and hair[low].mean() > FRINGE_SHARE)
    hairline = float(y[np.argmax(hair)]) if hair.any() else float(y.max())
    return fringe, hairline


def _hair_colour(image: np.ndarray, seg: Segmentation) -> tuple[int, int, int]:
    """The median colour (CIELAB) of the photo pixels SegNet is surest are hair (sRGB); a neutral dark brown
    when there are none."""
    cy, cx = np.nonzero(seg.probs[HAIR] > CLEAR_HAIR_P)
    A = np.vstack([seg.M, [0, 0, 1]])
    pix = (np.linalg.inv(A) @ np.stack([cx, cy, np.ones_like(cx)]).astype(np.float64))[:2].T
    H, W = image.shape[:2]
    x, y = np.round(pix[:, 0]).astype(int), np.round(pix[:, 1]).astype(int)
    inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)  # beyond the photo the crop is black
    if inside.sum() < 20:
        return (60, 45, 35)
    lab = cv2.cvtColor(image[y[inside], x[inside]][None].astype(np.uint8), cv2.COLOR_RGB2LAB)[0]
    med = np.median(lab.astype(np.float32), 0).round().astype(np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(med[None, None], cv2.COLOR_LAB2RGB)[0, 0])


@functools.lru_cache(maxsize=1)
def _rendered_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:data:`RENDERED_HAIR_SRGB` bilinear on a 0.02 x 0.05 grid: ``(melanin (K,), redness (K,), CIELAB (K, 3))``."""
    from scipy.interpolate import RegularGridInterpolator

    table = np.asarray(RENDERED_HAIR_SRGB, np.float32) / 255.0
    rows, cols = table.shape[:2]
    at = RegularGridInterpolator((np.linspace(0, 1, rows), np.linspace(0, 1, cols)), table)
    mel, red = np.meshgrid(np.linspace(0, 1, 51), np.linspace(0, 1, 21), indexing="ij")
    fine = at(np.stack([mel.ravel(), red.ravel()], 1)).astype(np.float32)
    return mel.ravel(), red.ravel(), cv2.cvtColor(fine[None], cv2.COLOR_RGB2LAB)[0]


def _melanin_redness(srgb) -> tuple[float, float]:
    """The melanin and redness whose rendered colour (:data:`RENDERED_HAIR_SRGB`) is nearest (CIELAB) to
    ``srgb``."""
    mel, red, lab = _rendered_grid()
    want = cv2.cvtColor(np.asarray(srgb, np.float32)[None, None] / 255.0, cv2.COLOR_RGB2LAB)[0, 0]
    k = int(np.argmin(((lab - want) ** 2).sum(1)))
    return float(mel[k]), float(red[k])


def paint_scalp(albedo: np.ndarray, seen: np.ndarray, model: FaceModel, vertices: np.ndarray,
                hair: PhotoHair) -> np.ndarray:
    """The skin atlas ``albedo`` ``(S, S, 3)`` uint8 sRGB with the scalp under ``hair`` in the hair's colour,
    as much as the strands hide it (``core.hair.SCALP_COVER``, as on the synthetic people), except where the
    photo saw it (``seen`` ``(S, S)`` bool). So the scalp between strands is not pale, and an exported head,
    which carries no strands, is not bald."""
    if hair.style == "bald":
        return albedo
    size = albedo.shape[0]
    # the hairline softened over about 1 % of the atlas (a few millimetres of skin)
    cover = cv2.GaussianBlur(scalp_mask(model, vertices, size, hair.recession_cm, TEMPLES_CM), (0, 0), size / 100)
    cover *= SCALP_COVER[hair.style]
    cover[seen] = 0.0
    out = albedo.astype(np.float32) * (1 - cover[:, :, None]) + np.asarray(hair.srgb, np.float32) * cover[:, :, None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
