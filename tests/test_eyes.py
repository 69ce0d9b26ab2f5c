"""The iris colour measured in real photos, and the exported eye texture (core/eyes.py). Real MediaPipe."""

import cv2
import numpy as np

from headforge.core.eyes import (DEFAULT_IRIS_SRGB, IRIS_UV_RADIUS, PUPIL_UV_RADIUS, eye_texture, iris_colour)
from headforge.core.image import load_image
from headforge.core.landmarks import detect_landmarks


def _iris(image):
    return iris_colour(image, detect_landmarks(image).points)


def test_iris_colour_from_real_photos(astronaut_rgb, shared_photos):
    """Brown eyes measure brown, green eyes green; a grey photo, sunglasses and eyes too small to see give the
    neutral default and say why."""
    brown = _iris(astronaut_rgb)
    print("astronaut", brown)
    assert brown.measured and brown.srgb[0] > brown.srgb[1] > brown.srgb[2]
    green = _iris(load_image(shared_photos / "prnet_5.jpg"))  # a drawn face with green eyes
    print("prnet_5", green)
    assert green.measured and green.srgb[1] > max(green.srgb[0], green.srgb[2])
    grey = cv2.cvtColor(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert _iris(grey) == type(brown)(DEFAULT_IRIS_SRGB, False, "the photo has no colour")
    shades = _iris(load_image(shared_photos / "prnet_2.jpg"))  # dark sunglasses
    print("prnet_2", shades)
    assert not shades.measured and "dark glasses" in shades.why
    small = _iris(load_image(shared_photos / "3ddfa_trump_hillary.jpg"))  # two small faces in a crowd
    assert not small.measured and "too small" in small.why
    assert shades.to_dict() == {"srgb": list(DEFAULT_IRIS_SRGB), "measured": False, "why_default": shades.why}


def test_eye_texture():
    """Black pupil, the iris colour between pupil and rim, a light sclera; the same for the same seed."""
    iris = (40, 110, 160)
    tex = eye_texture(256, iris, seed=2)
    s = tex.shape[0]
    yy, xx = np.mgrid[0:s, 0:s]
    r = np.hypot((xx + 0.5) / s - 0.5, (yy + 0.5) / s - 0.5)
    assert tex[r < PUPIL_UV_RADIUS - 0.01].max() < 40
    ring = np.median(tex[(r > PUPIL_UV_RADIUS + 0.02) & (r < IRIS_UV_RADIUS - 0.02)], axis=0)
    assert np.all(np.abs(ring - iris) <= 0.3 * np.array(iris) + 12), ring
    sclera = tex[(r > 0.2) & (r < 0.3)].astype(float)
    assert sclera.mean() > 170 and sclera[:, 0].mean() > sclera[:, 2].mean()  # off-white, a little warm
    np.testing.assert_array_equal(tex, eye_texture(256, iris, seed=2))
    assert not np.array_equal(tex, eye_texture(256, iris, seed=3))


def test_eye_texture_pupil_veins_and_sclera():
    """Set version 6 draws each person's eyes: a wider pupil is more black, no veins leave the sclera plain, more
    veins make it redder, and the sclera takes its colour."""
    iris = (90, 60, 40)
    s = 256
    yy, xx = np.mgrid[0:s, 0:s]
    r = np.hypot((xx + 0.5) / s - 0.5, (yy + 0.5) / s - 0.5)
    dark = [np.mean(eye_texture(s, iris, 4, pupil).max(2)[r < IRIS_UV_RADIUS] < 30) for pupil in (0.02, 0.034, 0.06)]
    assert dark[0] < dark[1] < dark[2] and abs(dark[2] - (0.06 / IRIS_UV_RADIUS) ** 2) < 0.1
    sclera = (r > IRIS_UV_RADIUS + 0.05) & (r < 0.45)

    def red(tex):
        t = tex[sclera].astype(float)
        return np.mean(t[:, 0] - t[:, 2] > 60)
    assert red(eye_texture(s, iris, 4, veins=0.0)) == 0
    assert 0 < red(eye_texture(s, iris, 4, veins=1.0)) < red(eye_texture(s, iris, 4, veins=2.0))
    yellow = eye_texture(s, iris, 4, veins=0.0, sclera_srgb=(220, 210, 170))[sclera & (r < 0.2)].mean(0)
    assert yellow[0] - yellow[2] > 35
