"""Headforge core: photo -> fitted, textured head as plain arrays. Pure numpy/scipy/opencv (and
MediaPipe for landmarks); never imports Blender or torch.

Main entry points::

    from headforge.core import create_avatar, load_face_model
    avatar = create_avatar("photo.jpg")   # -> Avatar
"""

from .errors import (BlenderUnavailable, Cancelled, FaceIndexError, FaceModelError, FaceTooSmall,  # noqa: F401
                     FitFailed, HeadforgeError, ImageError, ImageTooLarge, NoFaceFound, OutputError)
from .facemodel import FaceModel, load_face_model  # noqa: F401
from .fit import FitWeights, InitialGuess  # noqa: F401
from .pipeline import Avatar, create_avatar  # noqa: F401

__all__ = ["create_avatar", "Avatar", "load_face_model", "FaceModel", "FitWeights", "InitialGuess",
           "HeadforgeError", "FaceModelError", "ImageError", "ImageTooLarge", "NoFaceFound",
           "FaceIndexError", "FaceTooSmall", "FitFailed", "OutputError", "BlenderUnavailable", "Cancelled"]
