"""Batches that never lose work: resume after a kill, write errors, hostile files and names, locks, other
photos' folders, overwrite without leftovers, loopback-only Dask. Real photos, real pipeline, real processes."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

FAST = ("--no-blend", "--no-detail", "--texture-size", "1024")


def run(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "headforge", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def photos(photo_files, tmp_path):
    """Four copies of a real photo under distinct names."""
    d = tmp_path / "in"
    d.mkdir()
    data = Path(photo_files["grace_hopper"]).read_bytes()
    out = []
    for n in ("anna", "ben", "carl", "dora"):
        (d / f"{n}.jpg").write_bytes(data)
        out.append(d / f"{n}.jpg")
    return out


def outputs(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_a_killed_batch_resumes_exactly_the_unfinished_photos(photos, tmp_path):
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "headforge", "create", *map(str, photos), "--out", str(out), *FAST,
                          "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "anna" / ".headforge.json").exists():
        time.sleep(0.05)
    # the second photo is under way (its folder is locked) once the first is committed
    while time.time() < deadline and not (out / "ben").exists():
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert (out / "anna" / ".headforge.json").exists()
    first = (out / "anna" / "albedo.png").stat().st_mtime_ns
    r = run("create", *photos, "--out", out, *FAST, "--workers", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 skipped" in r.stdout and "3 created" in r.stdout, r.stdout
    assert (out / "anna" / "albedo.png").stat().st_mtime_ns == first
    for n in ("anna", "ben", "carl", "dora"):
        names = outputs(out / n)
        assert {"mesh.obj", "albedo.png", "fit.json", ".headforge.json"} <= names
        # no staging folder, temporary file, journal or lock survives
        assert not [x for x in names if x.startswith(".") and x != ".headforge.json"], names
        assert not [x for x in names if ".part" in x]
    # a photo killed during its commit: the journal names its files, they are removed and it is redone
    files = json.loads((out / "ben" / ".headforge.json").read_text())["files"]
    (out / "ben" / ".headforge-commit.json").write_text(json.dumps({"files": files}))
    (out / "ben" / "mesh.obj").unlink()        # moved in already: mesh.obj's rename had not happened
    r = run("create", *photos, "--out", out, *FAST)
    assert r.returncode == 0 and "1 created" in r.stdout and "3 skipped" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("code, says", [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only")])
def test_a_write_error_fails_that_photo_only(photos, tmp_path, monkeypatch, code, says):
    """A full disk or a read-only folder while one photo is written: that photo fails with a message that
    says what, where and what to do, leaves nothing half-written, and the next photo is made."""
    import headforge.core.writers as writers
    from headforge.batch import Options, make_heads

    real = writers.write_bytes

    def failing(path, data, **kw):
        if "anna" in str(path):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, data, **kw)

    monkeypatch.setattr(writers, "write_bytes", failing)
    lines = []
    out = tmp_path / "out"
    make_heads([(str(photos[0]), str(out / "anna")), (str(photos[1]), str(out / "ben"))],
               Options(texture_size=1024, no_blend=True, no_detail=True), overwrite=False, emit=lines.append)
    anna, ben = (json.loads(x) for x in lines)
    assert anna["status"] == "failed" and says in anna["reason"] and "anna" in anna["reason"]
    assert "run the same command again" in anna["reason"]
    assert not (out / "anna").exists()           # nothing half-written, not even the folder
    assert ben["status"] == "ok" and (out / "ben" / "fit.json").exists()


def test_user_files_are_never_replaced_without_overwrite(photo_files, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "normal.png").write_bytes(b"my own normal map")
    (out / "notes.txt").write_text("mine")
    r = run("create", photo_files["astronaut"], "--out", out, "--no-blend", "--texture-size", "1024")
    assert r.returncode == 1 and "normal.png" in r.stderr and "--overwrite" in r.stderr
    assert (out / "normal.png").read_bytes() == b"my own normal map" and not (out / "fit.json").exists()
    r = run("create", photo_files["astronaut"], "--out", out, "--no-blend", "--texture-size", "1024", "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "normal.png").read_bytes()[:4] == b"\x89PNG" and (out / "notes.txt").read_text() == "mine"


def test_overwrite_removes_what_the_new_run_does_not_write(photo_files, tmp_path):
    """A full run, then --overwrite --no-blend --no-detail: the earlier head.blend, head.glb and detail maps
    go (they were the earlier run's), the user's own file stays, and the folder counts as complete."""
    out = tmp_path / "o"
    r = run("create", photo_files["astronaut"], "--out", out, "--texture-size", "1024")
    assert r.returncode == 0, r.stderr[-2000:]
    assert {"head.blend", "head.glb", "displacement.png", "normal.png"} <= outputs(out)
    (out / "notes.txt").write_text("mine")
    r = run("create", photo_files["astronaut"], "--out", out, *FAST, "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not {"head.blend", "head.glb", "displacement.png", "normal.png"} & outputs(out)
    assert (out / "notes.txt").exists()
    r = run("create", photo_files["astronaut"], "--out", out, *FAST)
    assert r.returncode == 0 and "skipped" in r.stdout
    # other options for the same folder: refused without --overwrite
    r = run("create", photo_files["astronaut"], "--out", out, "--no-blend", "--texture-size", "1024")
    assert r.returncode == 1 and "other options" in r.stderr


def test_another_photos_folder_is_reported_and_kept(photo_files, tmp_path):
    out = tmp_path / "o"
    assert run("create", photo_files["astronaut"], "--out", out, *FAST).returncode == 0
    before = (out / "fit.json").read_bytes()
    r = run("create", photo_files["grace_hopper"], "--out", out, *FAST)
    assert r.returncode == 1 and "another photo" in r.stderr and str(Path(photo_files["astronaut"]).resolve()) in r.stderr
    assert "1 not made" in r.stdout and (out / "fit.json").read_bytes() == before


def test_names_stay_inside_out_and_apart(photo_files, tmp_path):
    from headforge.core.outputs import folder_names

    assert folder_names(["a/...jpg", "x/Anna.jpg", "y/anna.png", "../../etc.jpg", ".hidden.jpg", "a b$c.jpg",
                         "Anna_2.jpg"]) == ["photo", "Anna", "anna_2", "etc", "hidden", "a_b_c", "Anna_2_2"]
    d = tmp_path / "in"
    d.mkdir()
    for name in ("...jpg", "Face.jpg", "face.JPG"):
        (d / name).write_bytes(Path(photo_files["grace_hopper"]).read_bytes())
    out = tmp_path / "deep" / "out"
    r = run("create", d / "...jpg", d / "Face.jpg", d / "face.JPG", "--out", out, *FAST)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(outputs(out)) == ["Face", "face_2", "photo"]
    assert outputs(tmp_path / "deep") == {"out"}


def test_a_second_run_into_a_locked_folder_is_refused(photo_files, tmp_path):
    from headforge.core.outputs import folder_lock

    out = tmp_path / "busy"
    with folder_lock(out):
        r = run("create", photo_files["astronaut"], "--out", out, *FAST)
    assert r.returncode == 1 and f"process {os.getpid()}" in r.stderr and "Traceback" not in r.stderr
    assert not (out / "fit.json").exists()


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    import resource
    import struct
    import zlib

    from headforge.core.errors import ImageTooLarge
    from headforge.core.image import load_image

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    for w, h in ((30000, 30000), (12000, 10000)):   # above PIL's own limit, and between ours and PIL's
        png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
               + chunk(b"IDAT", zlib.compress(b"\x00" * (w * 3 + 1))) + chunk(b"IEND", b""))
        f = tmp_path / f"bomb{w}.png"
        f.write_bytes(png)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(ImageTooLarge, match="MP"):
            load_image(f)
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing decoded


def test_a_truncated_photo_is_used_with_a_warning(photo_files, tmp_path):
    data = Path(photo_files["grace_hopper"]).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    r = run("create", cut, "--out", tmp_path / "o", *FAST)
    assert r.returncode == 0 and "ends early" in r.stderr and "1 doubtful" in r.stdout, r.stderr[-2000:]


def test_bad_settings_give_messages_not_tracebacks(photo_files, tmp_path):
    env = dict(os.environ, HEADFORGE_CACHE_DIR=str(tmp_path / "afile"))
    (tmp_path / "afile").write_text("x")
    r = run("create", photo_files["astronaut"], "--out", tmp_path / "o", *FAST, env=env)
    assert r.returncode == 1 and "HEADFORGE_CACHE_DIR" in r.stderr and "Traceback" not in r.stderr
    from headforge.core import config

    model = config.face_model_path()
    data = bytearray(model.read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = b"x" * 64          # damaged in the middle: an LZMA error
    bad = tmp_path / "damaged.tar.xz"
    bad.write_bytes(bytes(data))
    env = dict(os.environ, HEADFORGE_CACHE_DIR=str(tmp_path / "cache"))
    r = run("create", photo_files["astronaut"], "--out", tmp_path / "o2", *FAST, "--model", bad, env=env)
    assert r.returncode == 1 and "not a readable ICT-FaceKit" in r.stderr and "Traceback" not in r.stderr


def test_model_cache_key_follows_every_file(tmp_path):
    from headforge.core.facemodel import _source_stamp

    d = tmp_path / "FaceXModel"
    (d / "sub").mkdir(parents=True)
    (d / "a.obj").write_text("v 0 0 0\n")
    (d / "sub" / "b.obj").write_text("v 1 1 1\n")
    first = _source_stamp(d)
    os.utime(d, ns=(1, 1))                       # the folder's own time does not matter
    assert _source_stamp(d) == first
    (d / "sub" / "b.obj").write_text("v 1 1 2\n")
    assert _source_stamp(d) != first


def test_onnxruntime_writes_nothing_to_home(photo_files, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "home" / ".cache"))
    env.pop("ORT_DISABLE_TELEMETRY", None)
    env.pop("ORT_TELEMETRY_DISABLED", None)
    r = run("create", photo_files["astronaut"], "--out", tmp_path / "o", "--no-blend", "--texture-size", "1024",
            env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (tmp_path / "home" / ".cache" / "Microsoft").exists()


def test_local_dask_listens_on_loopback_only():
    import psutil

    from headforge.core.farm import dask_client

    with dask_client(2) as client:
        assert client.submit(lambda x: x + 1, 1).result() == 2
        listening = [c.laddr for c in psutil.Process().net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        # its workers are threads of this process, so a suspended process (a laptop asleep) must not get them
        # dropped for missed heartbeats: no heartbeat deadline is checked
        scheduler = client.cluster.scheduler
        assert scheduler.worker_ttl is None and "worker-ttl" not in scheduler.periodic_callbacks
    assert listening and all(a.ip in ("127.0.0.1", "::1") for a in listening), listening
    assert np.all([a.port != 8787 for a in listening])
