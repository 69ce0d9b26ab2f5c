"""Headforge core: photo -> fitted, textured head as plain arrays. Pure numpy/scipy/opencv (and
MediaPipe for landmarks); never imports Blender or torch.

Main entry points::

    from headforge.core import create_avatar, load_face_model
    avatar = create_avatar("photo.jpg")   # -> Avatar
"""

import os

# onnxruntime (the networks) would write a device id and a telemetry database to the user's home and send
# usage events; Headforge turns that off before onnxruntime is first imported (a user's own setting wins)
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")

from .errors import (BlenderUnavailable, Cancelled, ConfigError, FaceIndexError, FaceModelError, FaceTooSmall,  # noqa: F401
                     FitFailed, HeadforgeError, ImageError, ImageTooLarge, NoFaceFound, OutputError)
from .facemodel import FaceModel, load_face_model  # noqa: F401
from .fit import FitWeights, InitialGuess  # noqa: F401
from .pipeline import Avatar, create_avatar  # noqa: F401

__all__ = ["create_avatar", "Avatar", "load_face_model", "FaceModel", "FitWeights", "InitialGuess",
           "HeadforgeError", "FaceModelError", "ImageError", "ImageTooLarge", "NoFaceFound",
           "FaceIndexError", "FaceTooSmall", "FitFailed", "OutputError", "BlenderUnavailable", "Cancelled", "ConfigError"]
