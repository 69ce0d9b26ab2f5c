"""Where Headforge finds its assets and keeps its caches.

Assets are never downloaded: each is read from a path the user controls, else from the extension's own
``assets/`` folder (``make extension`` bundles both there, with their licences), else from ``../shared``
beside a project checkout.

* ``HEADFORGE_FACE_MODEL``: the ICT-FaceKit ``FaceXModel.tar.xz`` or an extracted ``FaceXModel/``
  folder. Default: ``assets/ict-facekit/FaceXModel.tar.xz``, else
  ``../shared/facemodel/ict-facekit/FaceXModel.tar.xz``, whichever exists.
* ``HEADFORGE_MEDIAPIPE_MESH``: MediaPipe's ``face_model_with_iris.obj`` or ``canonical_face_model.obj`` (only
  needed once, to build the landmark correspondence cache). Default: the one in ``assets/mediapipe/``, else in
  ``../shared/facemodel/mediapipe/``.
* ``HEADFORGE_CACHE_DIR``: where compact caches go. Default: the platform's user cache directory
  (``~/.cache/headforge`` on Linux, ``~/Library/Caches/headforge`` on macOS,
  ``%LOCALAPPDATA%\\headforge\\cache`` on Windows).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FACE_MODEL_ENV = "HEADFORGE_FACE_MODEL"
MEDIAPIPE_MESH_ENV = "HEADFORGE_MEDIAPIPE_MESH"
CACHE_DIR_ENV = "HEADFORGE_CACHE_DIR"

#: the project root (this package's parent folder); ``../shared`` is looked for beside it
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def version() -> str:
    """Headforge's version, written once: in ``blender_manifest.toml`` (Blender reads it there; the
    package's metadata in ``pyproject.toml`` must agree, which a test checks)."""
    import tomllib

    with open(PACKAGE_ROOT / "blender_manifest.toml", "rb") as f:
        return tomllib.load(f)["version"]


#: assets bundled into the extension zip (absent in a project checkout)
BUNDLED_DIR = PACKAGE_ROOT / "assets"
#: where the assets sit, relative to the bundled folder and to ``shared/facemodel``
FACE_MODEL_FILE = Path("ict-facekit") / "FaceXModel.tar.xz"
MEDIAPIPE_MESH_FILES = (Path("mediapipe") / "face_model_with_iris.obj", Path("mediapipe") / "canonical_face_model.obj")


def _asset_folders() -> list[Path]:
    """Where default assets are looked for, first match wins: the bundled folder, then ``shared/facemodel``."""
    shared = shared_dir()
    return [BUNDLED_DIR] + ([shared / "facemodel"] if shared is not None else [])


def shared_dir() -> Path | None:
    """The ``shared/`` asset folder beside the project checkout, if there is one."""
    for cand in (PACKAGE_ROOT.parent / "shared", PACKAGE_ROOT / "shared"):
        if (cand / "facemodel").is_dir():
            return cand
    return None


def default_face_model_path() -> Path | None:
    return next((d / FACE_MODEL_FILE for d in _asset_folders() if (d / FACE_MODEL_FILE).exists()), None)


def face_model_path(override: str | os.PathLike | None = None) -> Path | None:
    """The face model path: ``override`` (e.g. the add-on preference), else the environment
    variable, else the bundled one, else the one in ``../shared``. ``None`` when none is set or found."""
    if override:
        return Path(os.path.expanduser(str(override)))
    env = os.environ.get(FACE_MODEL_ENV)
    if env:
        return Path(os.path.expanduser(env))
    return default_face_model_path()


def mediapipe_mesh_path() -> Path | None:
    """MediaPipe's canonical mesh: the environment variable, else the bundled one, else the one in
    ``../shared``. ``None`` when none is set or found."""
    env = os.environ.get(MEDIAPIPE_MESH_ENV)
    if env:
        return Path(os.path.expanduser(env))
    return next((d / f for d in _asset_folders() for f in MEDIAPIPE_MESH_FILES if (d / f).exists()), None)


def cache_dir() -> Path:
    """The user cache directory (created on first use)."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        d = Path(os.path.expanduser(env))
    elif sys.platform == "win32":
        d = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "headforge" / "cache"
    elif sys.platform == "darwin":
        d = Path.home() / "Library" / "Caches" / "headforge"
    else:
        d = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "headforge"
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not os.access(d, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:
        from .errors import ConfigError

        where = f"{CACHE_DIR_ENV} ({str(d)!r})" if env else repr(str(d))
        raise ConfigError(f"The cache folder {where} cannot be used ({e.strerror or e}). Point {CACHE_DIR_ENV} "
                          "to a folder you can write to, or unset it.") from None
    return d
