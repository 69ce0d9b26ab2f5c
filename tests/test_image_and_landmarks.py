
import cv2
import numpy as np
import pytest
from PIL import Image

from headforge.core import FaceIndexError, FaceTooSmall, ImageError, ImageTooLarge, NoFaceFound
from headforge.core.image import load_image, to_rgb8
from headforge.core.landmarks import MIN_FACE_PX, detect_landmarks


def test_formats(tmp_path, astronaut_rgb):
    gray = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)
    assert to_rgb8(gray).shape == (512, 512, 3)
    rgba = np.dstack([astronaut_rgb, np.full((512, 512), 255, np.uint8)])
    np.testing.assert_array_equal(to_rgb8(rgba), astronaut_rgb)
    p16 = tmp_path / "a16.png"
    cv2.imwrite(str(p16), (astronaut_rgb[:, :, ::-1].astype(np.uint16) * 257))
    np.testing.assert_allclose(load_image(p16).astype(int), astronaut_rgb.astype(int), atol=1)
    f = to_rgb8(astronaut_rgb.astype(np.float32) / 255)
    np.testing.assert_allclose(f.astype(int), astronaut_rgb.astype(int), atol=1)


def test_exif_rotation_is_applied(tmp_path, astronaut_rgb):
    crop = astronaut_rgb[:400, :300]  # portrait, so a rotation is visible in the shape
    stored = np.ascontiguousarray(np.rot90(crop, 1))  # what a camera held sideways stores
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rotated.jpg"
    im.save(p, exif=exif, quality=95)
    got = load_image(p)
    assert got.shape == crop.shape
    assert np.abs(got.astype(int) - crop.astype(int)).mean() < 6


def test_bad_files(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "missing.jpg")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all")
    with pytest.raises(ImageError, match="not an image"):
        load_image(text)
    with pytest.raises(ImageTooLarge, match="Downscale"):
        to_rgb8(np.zeros((12000, 9000, 3), np.uint8))


def test_landmarks_on_real_photo(astronaut_rgb):
    lm = detect_landmarks(astronaut_rgb)
    assert lm.points.shape == (478, 2)
    x0, y0, x1, y1 = lm.bbox
    # the face is in the upper middle of the picture
    assert 150 < x0 < x1 < 330 and 60 < y0 < y1 < 300
    assert lm.points[33, 0] < lm.points[263, 0]  # person's right eye is on the image's left


def test_mirror_averaged_points_are_the_same_for_a_photo_and_its_mirror(astronaut_rgb):
    """A photo and its mirror image get the same mesh points (mirrored back, renumbered left for right), which a
    single pass of MediaPipe does not give; the iris points stay as MediaPipe found them."""
    from headforge.core.regress import landmark_mirror

    w = astronaut_rgb.shape[1]
    perm = landmark_mirror()[:468]
    back = lambda lm: lm.points[:468][perm] * [-1, 1] + [w, 0]  # noqa: E731  (the mirror photo's, mirrored back)
    mirror = astronaut_rgb[:, ::-1].copy()
    one, one_m = detect_landmarks(astronaut_rgb, mirror_average=False), detect_landmarks(mirror, mirror_average=False)
    avg, avg_m = detect_landmarks(astronaut_rgb), detect_landmarks(mirror)
    single = np.linalg.norm(back(one_m) - one.points[:468], axis=1).mean()
    averaged = np.linalg.norm(back(avg_m) - avg.points[:468], axis=1).mean()
    print(f"a photo against its mirror image: {single:.3f} px apart in one pass, {averaged:.6f} px averaged")
    assert single > 0.1 and averaged < 1e-3
    np.testing.assert_allclose(avg.points[:468], 0.5 * (one.points[:468] + back(one_m)), atol=1e-3)
    np.testing.assert_array_equal(avg.points[468:], one.points[468:])


def test_huge_image_maps_back(astronaut_rgb):
    big = cv2.resize(astronaut_rgb, (8000, 8000), interpolation=cv2.INTER_LINEAR)
    small = detect_landmarks(astronaut_rgb)
    lm = detect_landmarks(big)
    err = np.linalg.norm(lm.points / (8000 / 512) - small.points, axis=1).mean()
    assert err < 2.0, err  # same face, same place, at 1/15.6 the scale


def test_no_face_tiny_face_and_face_index(astronaut_rgb):
    rng = np.random.default_rng(1)
    with pytest.raises(NoFaceFound, match="No face"):
        detect_landmarks(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    tiny = cv2.resize(astronaut_rgb[40:300, 150:370], (48, 56), interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceTooSmall, match=f"at least {MIN_FACE_PX}"):
        detect_landmarks(tiny)
    with pytest.raises(FaceIndexError, match="1 face"):
        detect_landmarks(astronaut_rgb, face_index=3)


def test_two_faces_largest_first(astronaut_rgb):
    face = astronaut_rgb[20:320, 130:390]
    canvas = np.full((340, 640, 3), 200, np.uint8)
    canvas[20:320, 10:270] = face
    small = cv2.resize(face, None, fx=0.7, fy=0.7)
    h, w = small.shape[:2]
    canvas[20:20 + h, 640 - w - 10:630] = small
    a = detect_landmarks(canvas, 0)
    b = detect_landmarks(canvas, 1)
    assert a.n_faces == 2 and a.face_width > b.face_width
    assert a.points[:, 0].mean() < 320 < b.points[:, 0].mean()


@pytest.mark.parametrize("size, eye_px, turn", [((900, 1200), 45, 0), ((2000, 3000), 40, 30)])
def test_small_face_found_by_the_full_range_pass(astronaut_rgb, size, eye_px, turn):
    """A face too small for face mesh's own (short-range) detector in the whole photo: the full-range
    detector finds it (in tiles, for the large photo), and face mesh on the upright crop gives the same
    points as on the full-size face."""
    from headforge.core.landmarks import _mesh_faces

    ref = detect_landmarks(astronaut_rgb)
    s = eye_px / ref.eye_distance
    face = cv2.resize(astronaut_rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = size
    canvas = np.full((h, w, 3), 90, np.uint8)
    y0, x0 = (h - face.shape[0]) // 2, (w - face.shape[1]) // 3
    canvas[y0:y0 + face.shape[0], x0:x0 + face.shape[1]] = face
    M = cv2.getRotationMatrix2D((x0 + face.shape[1] / 2, y0 + face.shape[0] / 2), turn, 1.0)
    canvas = cv2.warpAffine(canvas, M, (w, h), borderValue=(90, 90, 90))
    truth = (ref.points * s + [x0, y0]) @ M[:, :2].T + M[:, 2]
    k = min(1.0, 1024 / max(h, w))
    assert _mesh_faces(cv2.resize(canvas, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)) == []
    lm = detect_landmarks(canvas)
    err = np.linalg.norm(lm.points[:468] - truth[:468], axis=1).mean() / eye_px * 100
    print(f"{w} x {h}, eye distance {eye_px} px, turned {turn} deg: points {err:.1f} % of the eye distance off")
    assert lm.n_faces == 1 and err < 3.0
