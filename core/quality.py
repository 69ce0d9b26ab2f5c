"""Is a head to be trusted? A verdict from what the fit saw, so a user knows when to look twice.

:func:`assess` turns a fit and its landmarks into a :class:`Quality`: ``"ok"``, or ``"doubtful"`` with the
reasons in words. The CLI prints them as a warning and counts them in its summary, the Blender operator
reports them, and ``fit.json`` keeps them under ``quality``. The thresholds were measured on held-out
renders (where the truth is known) and on the real photos; see the README's *Quality* section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .camera import euler_degrees
from .fit import Fit
from .landmarks import Landmarks

#: beyond this yaw (degrees) the far half of the face is hidden and its shape is the prior's guess
MAX_YAW = 45.0
#: the fit follows the visible landmarks to within this weighted mean error (percent of the eye distance)
#: on good detections; more means the model could not take the shape the landmarks describe. With the
#: stiffer corrective field of 2026-12-05 (``FitWeights.laplacian``), 275 held-out version-6 renders: median
#: 1.08, 95th percentile 2.03; the real photos 0.77-1.69 but for a near-profile at 2.52 (with the field before
#: it 0.65 / 1.26 and 0.46-1.03 / 1.65, against a bar of 1.2)
MAX_LANDMARK_ERROR = 2.0
#: a visible landmark whose robust weight fell below this is an outlier (with the Cauchy loss: a residual
#: over three times the loss's scale)
OUTLIER_WEIGHT = 0.1
#: more than this fraction of outliers among the visible landmarks means a hand, hair, glasses or a poor
#: detection in front of the face
#: (300 held-out renders: median 0.006, 99th percentile 0.19, largest 0.21; the near-profile photo 0.43)
MAX_OUTLIER_FRACTION = 0.25
#: the corrective field asked for more than this (cm) before its bound: the landmarks wanted a shape
#: the model cannot take (300 held-out renders: median 0.16, largest 0.34; real photos at most 0.25; with
#: the stiffer field of 2026-12-05, 275 version-6 renders: median 0.13, largest 0.17; real photos 0.09-0.14)
MAX_CORRECTIVE_WANTED = 0.6
#: outer-eye distance (pixels) below which the face is too small for its shape to be more than a guess
MIN_EYE_PX = 30.0
#: more than this fraction of the face mesh's 468 points beyond the photo's edge means part of the face is cut
#: off and guessed (576 held-out renders: at most 0.053, 20 above 0; the real photos and their copies 0 but
#: for Emma's 10 %-crop copy, cut through the cheek: 0.45, its neutral face 1.5 mm from the whole photo's,
#: three times as far as any other copy's)
MAX_OUTSIDE_FRACTION = 0.10


@dataclass(frozen=True)
class Quality:
    verdict: str                                           #: "ok" or "doubtful"
    reasons: tuple[str, ...] = field(default_factory=tuple)  #: sentences; empty when ok

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def adding(self, reasons) -> "Quality":
        """This verdict with more reasons (doubtful when there are any)."""
        reasons = tuple(self.reasons) + tuple(reasons)
        return Quality("doubtful" if reasons else "ok", reasons)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "reasons": list(self.reasons)}


def assess(fit: Fit, landmarks: Landmarks) -> Quality:
    """The verdict on a fit of ``landmarks``: each test that fails adds a reason."""
    reasons = []
    yaw = euler_degrees(fit.camera.rotation)["yaw"]
    if abs(yaw) > MAX_YAW:
        reasons.append(f"the head is turned {abs(yaw):.0f} degrees (more than {MAX_YAW:.0f}): the far side of "
                       "the face is a guess; a more frontal photo gives a truer head")
    if fit.landmark_error > MAX_LANDMARK_ERROR:
        reasons.append(f"the head follows the landmarks only to {fit.landmark_error:.1f} % of the eye distance "
                       f"(more than {MAX_LANDMARK_ERROR:g} %): the detection may be poor or the face unusual")
    frac = outlier_fraction(fit)
    if frac > MAX_OUTLIER_FRACTION:
        reasons.append(f"{frac:.0%} of the visible landmarks disagree with the head (more than "
                       f"{MAX_OUTLIER_FRACTION:.0%}): something may cover the face, or the detection is poor")
    if fit.corrective_wanted > MAX_CORRECTIVE_WANTED:
        reasons.append(f"the landmarks asked to bend the skin by {fit.corrective_wanted:.1f} cm (more than "
                       f"{MAX_CORRECTIVE_WANTED:g} cm); the correction was limited")
    outside = outside_fraction(landmarks)
    if outside > MAX_OUTSIDE_FRACTION:
        reasons.append(f"{outside:.0%} of the face lies beyond the photo's edge: that part is a guess; a photo "
                       "that shows the whole face gives a truer head")
    if landmarks.eye_distance < MIN_EYE_PX:
        reasons.append(f"the face is small ({landmarks.eye_distance:.0f} px between the outer eye corners, less "
                       f"than {MIN_EYE_PX:.0f}): its shape and texture are rough")
    return Quality("doubtful" if reasons else "ok", tuple(reasons))


def outside_fraction(landmarks: Landmarks) -> float:
    """Fraction of the face mesh's 468 points (MediaPipe places them where the face would be) beyond the
    photo's edge."""
    pts = np.asarray(landmarks.points[:468], np.float64)
    return float(((pts < 0) | (pts > np.asarray(landmarks.image_size, np.float64))).any(1).mean())


def outlier_fraction(fit: Fit) -> float:
    """Fraction of the clearly visible landmarks (visibility above a half) whose robust weight is below
    :data:`OUTLIER_WEIGHT`: points the fit had to give up on."""
    vis, w = fit.landmark_visibility, fit.landmark_weights
    if vis is None or w is None:
        return 0.0
    if fit.landmark_trust is not None:   # an uncertain point is not an outlier
        vis = vis * fit.landmark_trust
    seen = vis > 0.5
    return float((seen & (w < OUTLIER_WEIGHT * vis)).sum() / max(seen.sum(), 1))
