"""`make bench`: per-stage times and accuracy on the real photos, printed as a table.

Targets (2-core machine): landmarks <= 60 ms on a 1024^2 photo, fit <= 1 s, texture + Poisson at 2048^2
<= 2 s, whole create_avatar <= 3 s once the model cache exists, model load from cache <= 0.5 s,
model evaluation <= 5 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from headforge.samples import astronaut, grace_hopper_path  # noqa: E402

from headforge.core import create_avatar, facemodel  # noqa: E402
from headforge.core.correspondence import load_correspondence  # noqa: E402
from headforge.core.fit import fit_landmarks  # noqa: E402
from headforge.core.image import load_image  # noqa: E402
from headforge.core.landmarks import detect_landmarks  # noqa: E402
from headforge.core.texture import project_texture, uv_raster  # noqa: E402
from headforge.core.facemodel import SKIN_END  # noqa: E402


def timed(fn, repeat=5):
    out = None
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def main():
    rows = []

    def row(what, seconds, target=None, note=""):
        ok = "" if target is None else ("ok" if seconds <= target else "OVER")
        rows.append((what, f"{seconds * 1000:9.1f} ms", "" if target is None else f"{target * 1000:.0f} ms", ok, note))

    facemodel._loaded.clear()
    t, model = timed(lambda: (facemodel._loaded.clear(), facemodel.load_face_model())[1], repeat=3)
    row("face model load (from cache)", t, 0.5)
    rng = np.random.default_rng(0)
    a, e = rng.normal(size=100), rng.uniform(size=53)
    t, _ = timed(lambda: model.vertices(a, e), repeat=20)
    row("model evaluation (100 id + 53 expr)", t, 0.005)
    corr = load_correspondence(model)

    photos = {"astronaut": astronaut(), "grace_hopper": load_image(grace_hopper_path())}
    big = cv2.resize(photos["astronaut"], (1024, 1024), interpolation=cv2.INTER_CUBIC)
    detect_landmarks(big)
    t, _ = timed(lambda: detect_landmarks(big), repeat=10)
    row("landmarks, 1024x1024 photo", t, 0.060)

    for name, img in photos.items():
        lm = detect_landmarks(img)
        t, fit = timed(lambda: fit_landmarks(model, corr, lm.points, lm.image_size), repeat=3)
        row(f"fit ({name})", t, 1.0, f"{fit.gauss_newton_steps} GN steps, error {fit.history[-1]:.2f} %")
        uv_raster(model, 2048)
        t, tex = timed(lambda: project_texture(model, fit.vertices, fit.camera, img, 2048, lm.points[:468]), repeat=3)
        row(f"texture + Poisson 2048^2 ({name})", t, 2.0,
            f"seen {tex.visible.sum() / tex.islands.sum():.0%} of the skin")
        t, av = timed(lambda: create_avatar(img, model=model), repeat=3)
        cn = np.linalg.norm(av.fit.corrective[:SKIN_END], axis=1)
        row(f"create_avatar total ({name})", t, 3.0,
            f"NME68 {av.nme68:.2f} % eye dist; corrective max {cn.max() * 10:.1f} mm mean {cn.mean() * 10:.2f} mm")
        if "detail" in av.timings:
            row(f"  of which skin detail ({name})", av.timings["detail"], 1.5,
                "relief from the shading + FineNet" if av.detail.fine is not None else "relief from the shading")

    # Blender side: rig, LODs, export (bpy)
    try:
        import tempfile

        import bpy

        from headforge.addon.build import build_head
        from headforge.addon.export import export_head
        from headforge.addon.rig import add_rig, make_lod
    except ImportError:
        bpy = None
    if bpy is not None:
        bpy.ops.wm.read_homefile(use_empty=True)
        t = time.perf_counter()
        made = build_head(av, name="Bench")
        row("build head in Blender", time.perf_counter() - t)
        t = time.perf_counter()
        add_rig(made["head"], model)
        row("rig (53 shape keys, armature, weights)", time.perf_counter() - t)
        for lv, n in ((1, 10000), (2, 3000)):
            t = time.perf_counter()
            lod = make_lod(made["head"], n, f"_LOD{lv}")
            row(f"LOD{lv} (~{n} vertices)", time.perf_counter() - t, None, f"{len(lod.data.vertices)} vertices")
        with tempfile.TemporaryDirectory() as d:
            for fmt in ("glb", "fbx"):
                t = time.perf_counter()
                p = export_head(made["head"], Path(d) / f"bench.{fmt}", fmt, (0, 1, 2))
                row(f"export {fmt} (LOD0-2, rigged)", time.perf_counter() - t, None, f"{p.stat().st_size / 1e6:.1f} MB")

    batch_rows(row)

    w = [max(len(r[i]) for r in rows) for i in range(5)]
    head = ("stage", "median", "target", "", "notes")
    w = [max(w[i], len(head[i])) for i in range(5)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    print("  ".join("-" * x for x in w))
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))


def batch_rows(row, n: int = 20):
    """``create`` on a batch of ``n`` copies of the real photos (Blender outputs included) with 1 and 2
    workers: photos per minute, and the largest peak memory of a worker process (each makes a group of
    photos in a fresh process)."""
    import tempfile

    from headforge.batch import Options, run_batch

    with tempfile.TemporaryDirectory() as d:
        src = [grace_hopper_path(), None]
        paths = []
        for i in range(n):
            p = Path(d) / "in" / f"photo{i:02d}.png"
            p.parent.mkdir(exist_ok=True)
            if i % 2:
                cv2.imwrite(str(p), astronaut()[:, :, ::-1])
            else:
                p = p.with_suffix(".jpg")
                p.write_bytes(Path(src[0]).read_bytes())
            paths.append(p)
        for workers in (1, 2):
            items = [(str(p), str(Path(d) / f"out{workers}" / p.stem)) for p in paths]
            t = time.perf_counter()
            res = run_batch(items, Options(texture_size=2048), overwrite=False, workers=workers, progress=False)
            dt = time.perf_counter() - t
            ok = sum(r["status"] == "ok" for r in res)
            row(f"create batch of {n} photos, {workers} worker(s)", dt / n, None,
                f"{ok / dt * 60:.1f} photos/min; peak memory of a worker process "
                f"{max(r['peak_mb'] for r in res):.0f} MB (after its first photo "
                f"{min(r['peak_mb'] for r in res):.0f} MB)")


if __name__ == "__main__":
    main()
