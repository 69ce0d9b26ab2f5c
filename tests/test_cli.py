import json
import subprocess
import sys

import numpy as np
import pytest

from headforge import cli
from headforge.core.errors import ConfigError, OutputError
from headforge.core.facemodel import N_VERTICES
from headforge.core.landmarks import MIN_FACE_PX


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "headforge", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_create_writes_the_contract(photo_files, tmp_path, shipped_weights):
    out = tmp_path / "out"
    r = run("create", photo_files["astronaut"], "--out", out, "--texture-size", "1024")
    assert r.returncode == 0, r.stderr
    for f in ("mesh.obj", "mesh.mtl", "albedo.png", "head.blend", "head.glb", "overlay.png", "fit.json"):
        assert (out / f).stat().st_size > 0, f
    fit = json.loads((out / "fit.json").read_text())
    assert fit["image"]["width"] == 512 and fit["image"]["height"] == 512
    # the shipped CoarseNet starts the fit (--no-coarsenet: the mean face)
    assert fit["image"]["path"] == str(photo_files["astronaut"])
    assert fit["initializer"] == "coarsenet+descriptor"
    assert len(fit["identity"]) == 100 and len(fit["expression"]) == 53
    assert np.array(fit["landmarks68"]).shape == (68, 2)
    assert np.array(fit["detected_landmarks"]).shape == (478, 2)
    assert np.array(fit["camera"]["rotation"]).shape == (3, 3)
    assert set(fit["timings_s"]) >= {"landmarks", "fit", "segment", "texture", "total"}
    # the shipped SegNet: what covers the face is said, and the hair read from the photo
    assert fit["glasses"]["found"] is False and fit["facial_hair"]["found"] is False
    assert fit["hair"]["style"] == "short" and fit["texture"]["covered_left_out"]
    # the photo's light is taken off the texture, and fit.json says which light (--keep-photo-light: left in)
    assert fit["texture"]["light_removed"] and np.array(fit["texture"]["light"]["sh9_linear_rgb"]).shape == (3, 9)
    # the OBJ is the fitted head in ICT order and cm; the camera projects it onto landmarks68
    from headforge.core.camera import Camera
    from headforge.core.facemodel import LANDMARKS_68

    v = np.array([ln.split()[1:4] for ln in (out / "mesh.obj").read_text().splitlines() if ln.startswith("v ")],
                 float)
    assert v.shape == (N_VERTICES, 3)
    cam = Camera.from_dict(fit["camera"])
    proj = cam.project(v[LANDMARKS_68[17:]])
    np.testing.assert_allclose(proj, np.array(fit["landmarks68"])[17:], atol=0.05)
    # the shipped FineNet adds detail: a 16-bit displacement map, its normal map, and head.glb carries it
    # as the material's normal texture (glTF has no displacement)
    import struct

    import cv2

    assert fit["detail"] is not None
    disp = cv2.imread(str(out / "displacement.png"), cv2.IMREAD_UNCHANGED)
    assert disp.dtype == np.uint16 and disp.max() > disp.min()
    assert -0.2 < fit["detail"]["min_cm"] < fit["detail"]["max_cm"] < 0.2  # millimetres, not centimetres
    glb = (out / "head.glb").read_bytes()
    n = struct.unpack("<I", glb[12:16])[0]
    gltf = json.loads(glb[20:20 + n])
    assert any("normalTexture" in m for m in gltf["materials"])
    # a second run resumes: nothing to do, nothing overwritten
    before = (out / "albedo.png").stat().st_mtime_ns
    r2 = run("create", photo_files["astronaut"], "--out", out, "--texture-size", "1024")
    assert r2.returncode == 0 and "skipped" in r2.stdout
    assert (out / "albedo.png").stat().st_mtime_ns == before


def test_batch_continues_past_bad_photos(photo_files, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "letter.png"
    text.write_text("hello")
    noface = tmp_path / "noise.png"
    import cv2

    cv2.imwrite(str(noface), np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8))
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), cv2.resize(cv2.imread(str(photo_files["astronaut"]))[40:300, 150:370], (48, 56)))
    out = tmp_path / "batch"
    r = run("create", empty, text, noface, tiny, photo_files["grace_hopper"], "--out", out, "--no-blend",
            "--texture-size", "1024", "--no-coarsenet", "--keep-photo-light")
    assert r.returncode == 1
    assert "1 created" in r.stdout and "4 failed" in r.stdout
    assert "empty" in r.stderr and "not an image" in r.stderr and "No face" in r.stderr
    assert f"needs at least {MIN_FACE_PX}" in r.stderr
    assert "Traceback" not in r.stderr
    fit = json.loads((out / "grace_hopper" / "fit.json").read_text())
    assert fit["initializer"] == "mean face" and fit["texture"]["light_removed"] is False
    assert not (out / "empty").exists() or not any((out / "empty").iterdir())


def test_missing_model_and_bad_out(photo_files, tmp_path):
    import os

    env = dict(os.environ, HEADFORGE_FACE_MODEL=str(tmp_path / "missing.tar.xz"))
    r = subprocess.run([sys.executable, "-m", "headforge", "create", str(photo_files["astronaut"]), "--out",
                        str(tmp_path / "o"), "--no-blend"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1 and "HEADFORGE_FACE_MODEL" in r.stderr and "Traceback" not in r.stderr
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = run("create", photo_files["astronaut"], "--out", afile)
    assert r.returncode == 2 and "is a file" in r.stderr


def test_doubtful_head_is_made_with_a_warning(shared_photos, tmp_path):
    """A near-profile photo: the head is written, the CLI warns why it is doubtful, the summary counts it
    and fit.json keeps the verdict; the exit status stays 0 (nothing failed)."""
    out = tmp_path / "profile"
    r = run("create", shared_photos / "prnet_3.jpg", "--out", out, "--no-blend", "--no-detail", "--texture-size", "1024")
    assert r.returncode == 0, r.stderr
    assert "doubtful" in r.stderr and "turned" in r.stderr
    assert "1 created (1 doubtful)" in r.stdout
    q = json.loads((out / "fit.json").read_text())["quality"]
    assert q["verdict"] == "doubtful" and any("turned" in why for why in q["reasons"])


@pytest.mark.parametrize("text, lods", [("0", [0]), ("2,0", [0, 2]), ("0, 1,2,1", [0, 1, 2]), ("1,", [1])])
def test_lod_lists(text, lods):
    assert cli._lods(text) == lods


@pytest.mark.parametrize("text", ["", "3", "0,x", "-1", ","])
def test_bad_lod_lists_say_what_is_allowed(text):
    with pytest.raises(OutputError, match="--lod takes"):
        cli._lods(text)


def test_export_formats():
    assert cli._formats("") == [] and cli._formats("glb") == ["glb"] and cli._formats("GLB, fbx") == ["glb", "fbx"]
    with pytest.raises(OutputError, match="--export takes glb and/or fbx; got obj"):
        cli._formats("glb,obj")
    args = cli._parser().parse_args(["create", "a.jpg", "-o", "out", "--export", "fbx", "--no-blend"])
    with pytest.raises(OutputError, match="--export needs Blender"):
        cli._options(args)


def test_a_chosen_hair_style_is_checked_and_recorded():
    args = cli._parser().parse_args(["create", "a.jpg", "-o", "out", "--hair-style", "bun"])
    opts = cli._options(args)
    assert opts.hair_style == "bun" and opts.recorded()["hair_style"] == "bun"
    # a record from before the option (the photo's style) stays valid: a folder made then is not made again
    assert "hair_style" not in cli._options(cli._parser().parse_args(["create", "a.jpg", "-o", "out"])).recorded()
    args = cli._parser().parse_args(["create", "a.jpg", "-o", "out", "--hair-style", "bun", "--keep-hair-in-texture"])
    with pytest.raises(OutputError, match="--hair-style, --hair-length, --hair-volume and --hair-curl take"):
        cli._options(args)
    with pytest.raises(SystemExit):   # argparse names the styles
        cli._parser().parse_args(["create", "a.jpg", "-o", "out", "--hair-style", "curly"])
    # a length, volume and curl of one's own: recorded (a folder made with others is made again only when asked),
    # checked before any work where they do not hang on the photo's style
    args = cli._parser().parse_args(["create", "a.jpg", "-o", "out", "--hair-style", "long", "--hair-length", "25",
                                     "--hair-volume", "3", "--hair-curl", "0.8"])
    rec = cli._options(args).recorded()
    assert (rec["hair_length_cm"], rec["hair_volume_cm"], rec["hair_curl_cm"]) == (25.0, 3.0, 0.8)
    for bad, match in ((["--hair-volume", "9"], "volume: give 0.5-5 cm"), (["--hair-curl", "3"], "curl: give 0-2")):
        with pytest.raises(ConfigError, match=match):
            cli._options(cli._parser().parse_args(["create", "a.jpg", "-o", "out", *bad]))
    with pytest.raises(OutputError, match="--hair-volume and --hair-curl take"):
        cli._options(cli._parser().parse_args(["create", "a.jpg", "-o", "out", "--hair-curl", "1",
                                               "--keep-hair-in-texture"]))


def test_a_hair_measure_out_of_range_is_an_error_not_a_traceback(tmp_path, capsys):
    assert cli.main(["create", "a.jpg", "-o", str(tmp_path / "out"), "--hair-volume", "9"]) == 2
    err = capsys.readouterr().err
    assert "error: 9 cm is out of range for the hair's volume: give 0.5-5 cm." in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()   # nothing made


def test_old_flag_name_still_works():
    args = cli._parser().parse_args(["create", "a.jpg", "-o", "out", "--no-regressor"])
    assert args.no_coarsenet and cli._options(args).no_coarsenet
