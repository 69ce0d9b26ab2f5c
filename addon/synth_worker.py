"""Render one shard of a synthetic set in this (fresh) process.

``python -m headforge.addon.synth_worker OUT SHARD`` reads ``OUT/manifest.json`` for the configuration,
renders the shard's samples into ``OUT/shards/.shard_NNNNN.partial/`` and renames that folder to
``shard_NNNNN`` when everything is written, so a shard folder is either complete or absent.

Shard layout: ``NNNNNNNN.png`` (or ``.jpg``) per sample, ``labels.npz`` (arrays stacked over the shard's
samples in index order), ``meta.json`` (indices, seconds, versions). With details also
``detail_NNNNNNNN.npy`` (the UV displacement map, float16 cm).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..core.synth import partial_path, shard_path

def render_shard(out: Path, k: int, model_path=None) -> dict:
    import bpy

    from ..core import synth as S
    from ..core.correspondence import load_correspondence
    from ..core.facemodel import load_face_model
    from ..core.hair import BEARDS, STYLES, TIED
    from .synth_scene import SynthScene

    out = Path(out)
    manifest = json.loads((out / "manifest.json").read_text())
    cfg = S.SynthConfig.from_dict(manifest["config"])
    t0 = time.perf_counter()
    tmp = partial_path(out, k)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model = load_face_model(model_path)
    corr = load_correspondence(model)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = SynthScene(model, cfg)
    params = [S.sample_params(cfg, i, model) for i in cfg.shard_indices(k)]
    labels: dict[int, dict] = {}
    for p in sorted(params, key=lambda q: q["lights"]["hdri"]):  # few world changes: the slow part
        i = p["index"]
        detail = S.detail_map(model, p["details"], cfg.detail_size) if cfg.details else None
        verts, cam, lab = S.labels_for(model, corr, p, cfg.size, detail)
        scene.render(p, verts, cam, tmp / f"{i:08d}.{cfg.image_format}", detail)
        if cfg.albedo:
            scene.render_albedo(tmp / S.albedo_name(i))
        if cfg.shading:
            scene.render_shading(tmp / S.shading_name(i))
        if scene.coverage is not None:
            lab = S.with_coverage(lab, scene.coverage)
        if p["hair"] is not None:
            lab["hair_style"] = np.int8(STYLES.index(p["hair"]["style"]))
            lab["beard_style"] = np.int8(BEARDS.index(p["hair"]["beard"]["style"]))
            if "tied" in p["hair"]:   # set version 7: 0 loose, then core.hair.TIED's kinds from 1
                lab["hair_tied"] = np.int8(0 if p["hair"]["tied"] is None else 1 + TIED.index(p["hair"]["tied"]))
            lab["glasses"] = np.int8(p["glasses"] is not None)
        if detail is not None:
            np.save(tmp / f"detail_{i:08d}.npy", detail.astype(np.float16))
        lab.update(index=i, identity=p["identity"], expression=p["expression"], K=cam.K.astype(np.float32),
                   R=cam.rotation.astype(np.float32), t=cam.translation.astype(np.float32),
                   pose=np.array([p["yaw"], p["pitch"], p["roll"]], np.float32),
                   focal_mm=np.float32(p["focal_mm"]), light_setup=np.int16(p["lights"]["setup"]),
                   melanin=np.float32(p["appearance"]["melanin"]),
                   background=np.int8(["hdri", "clutter", "noise"].index(p["background"]["kind"])))
        if cfg.views > 1 or cfg.clip:
            lab["person"] = np.int32(p["person"])
        labels[i] = lab
    order = sorted(labels)
    arrays = {}
    for key in labels[order[0]]:
        vals = [labels[i][key] for i in order]
        a = np.stack([np.asarray(v) for v in vals])
        if key == "depth":
            a = np.where(np.isfinite(a), a, 0).astype(np.float16)  # 0 = background
        elif key == "normal":
            a = np.round(a * 127).astype(np.int8)
        elif key == "disp_image":
            a = a.astype(np.float16)
        arrays[key] = a
    np.savez_compressed(tmp / "labels.npz", **arrays)
    meta = {"shard": k, "indices": order, "seconds": round(time.perf_counter() - t0, 3),
            "render_seconds_per_image": round((time.perf_counter() - t0) / max(len(order), 1), 3),
            "versions": {"blender": bpy.app.version_string, "numpy": np.__version__}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    final = shard_path(out, k)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return meta


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: python -m headforge.addon.synth_worker OUT SHARD [MODEL]", file=sys.stderr)
        return 2
    meta = render_shard(Path(argv[0]), int(argv[1]), argv[2] if len(argv) > 2 else None)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
