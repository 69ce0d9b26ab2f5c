"""Typed errors of Headforge.

Every error a user can cause derives from :class:`HeadforgeError` and carries a message that says
what went wrong *and what to do about it*. Operators show ``str(err)`` with ``self.report``; the CLI
prints it and exits non-zero. Anything else that escapes is a bug.
"""

from __future__ import annotations


class HeadforgeError(Exception):
    """Base class: a problem with the input or the set-up that the user can fix."""

    #: short machine-readable kind: the batch summary counts failures by it
    kind = "error"


class ConfigError(HeadforgeError):
    """A setting (an environment variable, a preference) points somewhere Headforge cannot use."""

    kind = "config"


class FaceModelError(HeadforgeError):
    """The ICT-FaceKit model is missing, unreadable or not the expected topology."""

    kind = "face_model"


class ImageError(HeadforgeError):
    """The input is not a readable image (missing file, empty file, wrong format, bad array)."""

    kind = "image"


class ImageTooLarge(ImageError):
    """The image has more pixels than Headforge will hold in memory."""

    kind = "image_too_large"


class VideoError(ImageError):
    """The clip cannot be read (missing, not a video, no frames)."""

    kind = "video"


class NoFaceFound(HeadforgeError):
    """The landmark detector found no face in the image."""

    kind = "no_face"


class FaceIndexError(HeadforgeError):
    """A face index was asked for that the image does not have."""

    kind = "face_index"


class FaceTooSmall(HeadforgeError):
    """The face is too small in the image to fit and texture it."""

    kind = "face_too_small"


class FitFailed(HeadforgeError):
    """The fit did not converge to a plausible head."""

    kind = "fit_failed"


class NotSamePerson(HeadforgeError):
    """Photos given as one person's show different people."""

    kind = "not_same_person"


class DescriptorUnavailable(HeadforgeError):
    """The face-recognition descriptor (dlib and its weights) that tells whether photos show one person is not
    installed."""

    kind = "descriptor"


class CalibrationUnavailable(HeadforgeError):
    """The expression calibration cannot be used: missing, damaged, or learned beside another CoarseNet
    (the expression guess is then CoarseNet's own)."""

    kind = "expression_calibration"


class OutputError(HeadforgeError):
    """An output cannot be written (unwritable folder, file exists and overwriting was not asked)."""

    kind = "output"


class BlenderUnavailable(HeadforgeError):
    """The Blender Python module (bpy) is needed for this step but not installed."""

    kind = "no_bpy"


class Cancelled(HeadforgeError):
    """The user cancelled the work (Esc in Blender, Ctrl-C in the CLI)."""

    kind = "cancelled"


class ImageWarning(UserWarning):
    """The photo can be used, but something about it makes the head less trustworthy (a file cut short)."""
