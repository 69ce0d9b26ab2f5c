"""The photo's light taken off the texture (``make bench-light``): against the truth on renders, and on real photos.

1. **Renders with the truth.** Held-out synthetic people rendered with the skin's own colour beside each render
   (``headforge synth --albedo``) are made into heads. Each head's texture, with the light left in and taken off,
   is compared texel by texel with that true colour, sampled through the same fitted head and camera, over the
   skin the render saw (eyes, brows, lips and nostrils apart, and where the truth is skin), after one scale per
   colour channel (the light's overall brightness and colour are not the texture's to know): the median
   relative error of the linear colour, and the CIELAB distance (lightness and hue).
2. **The light itself** (``--shading-set``, rendered with ``synth --albedo --shading``): each estimate of the
   photo's light on the fitted head against the true light on the skin, luminance over the seen skin:
   correlation, and median relative error after one scale.
3. **Real photos** (``../shared/photos``, the astronaut, Grace Hopper): the mean lightness and hue difference
   between a seen skin texel and its mirror image (a face's skin is nearly symmetric, its light often is not),
   and between the textures of one person's photos (Emma's three, Trump's two; exposure matched per channel).

Prints the tables; ``--json`` keeps the numbers.

    python bench/light_bench.py --set out/data/albedo-heldout-v6 [--shading-set out/data/shading-heldout-v6]
        [--renders 100]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # synth --shading writes OpenEXR
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from headforge.core import config, relief, synth as S  # noqa: E402
from headforge.core.errors import HeadforgeError  # noqa: E402
from headforge.core.facemodel import load_face_model  # noqa: E402
from headforge.core.image import linear_to_srgb, load_image, srgb_to_linear  # noqa: E402
from headforge.core.pipeline import create_avatar  # noqa: E402
from headforge.core.texture import feature_mask, mirror_texels, project_texture, sh9, texel_projection  # noqa: E402

SIZE = 1024


def read_albedo(shard: Path, i: int) -> np.ndarray:
    """Render ``i``'s true skin colour (``synth --albedo``): ``(H, W, 4)`` uint8 sRGB, alpha on the skin."""
    return cv2.imread(str(shard / S.albedo_name(i)), cv2.IMREAD_UNCHANGED)[:, :, [2, 1, 0, 3]]


def read_shading(shard: Path, i: int) -> np.ndarray:
    """Render ``i``'s true light on the skin (``synth --shading``): ``(H, W, 3)`` float32 RGB, scene-linear."""
    return cv2.imread(str(shard / S.shading_name(i)), cv2.IMREAD_UNCHANGED)[:, :, ::-1].astype(np.float32)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """(K, 3) float sRGB in [0, 1] -> CIELAB (L 0-100)."""
    return cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32)[None], cv2.COLOR_RGB2LAB)[0]


def textures(model, avatar, delights=(False, True)) -> dict:
    """The avatar's texture with the photo's light left in and taken off: ``{False: ..., True: ...}``."""
    seg = avatar.segmentation
    return {d: project_texture(model, avatar.vertices, avatar.camera, avatar.image, SIZE,
                               face_points=avatar.landmarks.points[:468],
                               covered=None if seg is None else seg.covered, delight=d) for d in delights}


def against_truth(model, avatar, albedo_rgba: np.ndarray) -> dict:
    """``{delight: (median relative error of linear colour, mean CIELAB distance, texels)}`` of the avatar's
    textures against the true skin colour ``albedo_rgba`` ((H, W, 4) uint8 sRGB, alpha the skin)."""
    tp = _projection(model, avatar)
    truth = _at_texels(tp, albedo_rgba).astype(np.float32) / 255
    at = _texel_index(tp)
    out = {}
    for d, tex in textures(model, avatar).items():
        use = _seen_skin(model, tex, tp, truth[:, 3])
        if len(use) < 500:
            return {}
        true = truth[at[use], :3]
        got = tex.albedo.reshape(-1, 3)[use].astype(np.float32) / 255
        lin_true, lin_got = srgb_to_linear(true), srgb_to_linear(got)
        scale = np.median(lin_got, 0) / np.maximum(np.median(lin_true, 0), 1e-4)
        rel = np.abs(lin_got / scale - lin_true) / np.maximum(lin_true, 1e-3)
        scaled = linear_to_srgb(np.clip(lin_got / scale, 0, 1))
        de = np.linalg.norm(_lab(scaled) - _lab(linear_to_srgb(lin_true)), axis=1)
        out[d] = (float(np.median(rel)), float(de.mean()), len(use))
    return out


def light_against_truth(model, avatar, albedo_rgba: np.ndarray, shading: np.ndarray) -> dict:
    """How well each estimate of the photo's light follows the true light on the skin (``shading``: (H, W, 3)
    float32 scene-linear, ``synth --shading``) over the skin the texture sees (features apart): ``{estimate:
    (correlation, median relative error after one scale)}`` of the luminance. Estimates: the texture's light on
    the head's smoothed normals (``core.texture.fit_light``, with its ridge), the same light on the head's own
    normals, the relief's (``core.relief.skin_light``: own normals, no ridge), and the ceiling: the same fit to
    the true shading itself."""
    tp = _projection(model, avatar)
    alpha = _at_texels(tp, albedo_rgba[:, :, 3:]).astype(np.float32)[:, 0] / 255
    tex = textures(model, avatar, (True,))[True]
    use = _seen_skin(model, tex, tp, alpha)
    if len(use) < 500:
        return {}
    at = _texel_index(tp)[use]
    true = _at_texels(tp, shading)[at] @ relief.LUMA
    own = tp.interpolate((model.vertex_normals(avatar.vertices) @ avatar.camera.rotation.T).astype(np.float32), use)
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    photo = srgb_to_linear(_at_texels(tp, avatar.image).astype(np.float32)[at] / 255) @ relief.LUMA
    guesses = {"texture's light, smoothed normals": tex.light.shading(tp.broad_normals(use)) @ relief.LUMA,
               "texture's light, the head's normals": tex.light.shading(own) @ relief.LUMA,
               "relief's light, the head's normals": sh9(own) @ relief.skin_light(own, photo),
               # the ceiling: the second-order light closest to the truth (cast shadows and shine are beyond it)
               "the best second-order light (fitted to the truth)": sh9(own) @ relief.skin_light(own, true)}
    out = {}
    for name, guess in guesses.items():
        scale = np.median(guess) / max(float(np.median(true)), 1e-6)
        rel = np.abs(guess / scale - true) / np.maximum(true, 1e-4)
        out[name] = (float(np.corrcoef(guess, true)[0, 1]), float(np.median(rel)))
    return out


def _projection(model, avatar):
    return texel_projection(model, avatar.vertices, avatar.camera, SIZE, avatar.image.shape[:2],
                            avatar.landmarks.points[:468])


def _at_texels(tp, image: np.ndarray) -> np.ndarray:
    """(M, C) ``image``'s values at the island texels' photo positions (bilinear; 0 outside)."""
    n = len(tp.uvp)
    grid = np.full((-(-n // SIZE) * SIZE, 2), -1, np.float32)   # remap wants maps under 32,767 rows
    grid[:n] = tp.uvp
    out = cv2.remap(image, grid[:, 0].reshape(-1, SIZE), grid[:, 1].reshape(-1, SIZE), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(-1, image.shape[2] if image.ndim == 3 else 1)[:n]


def _texel_index(tp) -> np.ndarray:
    """(S * S,) int64: each texel's row in the island texel arrays (-1 off the islands)."""
    at = np.full(SIZE * SIZE, -1, np.int64)
    at[tp.flat] = np.arange(len(tp.flat))
    return at


def _seen_skin(model, tex, tp, alpha: np.ndarray) -> np.ndarray:
    """Flat indices of the texels the texture saw that are skin in the truth (``alpha`` per island texel), the
    features apart."""
    skin_truth = np.zeros(SIZE * SIZE, bool)
    skin_truth[tp.flat[alpha > 0.99]] = True
    return np.flatnonzero(tex.visible.ravel() & ~feature_mask(model, SIZE).ravel() & skin_truth)


def renders_table(model, root: Path, count: int) -> dict:
    manifest = json.loads((root / "manifest.json").read_text())
    cfg = S.SynthConfig.from_dict(manifest["config"])
    if not cfg.albedo:
        raise SystemExit(f"error: {str(root)!r} was rendered without --albedo")
    rows, missed = [], 0
    for k in range(cfg.n_shards):
        for i in cfg.shard_indices(k):
            if len(rows) + missed >= count:
                break
            d = S.shard_path(root, k)
            if not (d / S.albedo_name(i)).exists():
                continue
            albedo = read_albedo(d, i)
            try:
                avatar = create_avatar(str(d / f"{i:08d}.{cfg.image_format}"), texture_size=SIZE, detail=False,
                                       model=model)
            except HeadforgeError:
                missed += 1
                continue
            r = against_truth(model, avatar, albedo)
            if r:
                rows.append(r)
            else:
                missed += 1
    rel = {d: np.array([r[d][0] for r in rows]) for d in (False, True)}
    de = {d: np.array([r[d][1] for r in rows]) for d in (False, True)}
    better = float(np.mean(rel[True] < rel[False]))
    print(f"\n## Renders against their true skin colour ({len(rows)} of {len(rows) + missed} renders; "
          f"{missed} without a face or with too little seen skin)\n")
    print("| texture | median relative error of linear colour | CIELAB distance |")
    print("|---|---|---|")
    for d, name in ((False, "light left in"), (True, "light taken off")):
        print(f"| {name} | {np.mean(rel[d]):.3f} (median over renders {np.median(rel[d]):.3f}) | "
              f"{np.mean(de[d]):.2f} |")
    print(f"\nlight taken off closer to the truth on {better:.0%} of the renders")
    return {"renders": len(rows), "missed": missed, "better_share": better,
            **{f"{'off' if d else 'in'}_{k}": float(np.mean(v[d])) for k, v in (("rel", rel), ("de", de))
               for d in (False, True)}}


def shading_table(model, root: Path, count: int) -> dict:
    cfg = S.SynthConfig.from_dict(json.loads((root / "manifest.json").read_text())["config"])
    rows = []
    for k in range(cfg.n_shards):
        for i in cfg.shard_indices(k):
            d = S.shard_path(root, k)
            if len(rows) >= count or not (d / S.shading_name(i)).exists():
                continue
            try:
                avatar = create_avatar(str(d / f"{i:08d}.{cfg.image_format}"), texture_size=SIZE, detail=False,
                                       model=model)
            except HeadforgeError:
                continue
            r = light_against_truth(model, avatar, read_albedo(d, i), read_shading(d, i))
            if r:
                rows.append(r)
    print(f"\n## The photo's light against the true light on the skin ({len(rows)} renders)\n")
    print("| estimate | correlation with the true shading | median relative error after one scale |")
    print("|---|---|---|")
    out = {}
    for name in rows[0] if rows else ():
        c, e = np.mean([r[name][0] for r in rows]), np.mean([r[name][1] for r in rows])
        print(f"| {name} | {c:.3f} | {e:.3f} |")
        out[name] = {"correlation": float(c), "relative_error": float(e)}
    return {"renders": len(rows), **out}


def mirror_difference(model, tex) -> tuple[float, float]:
    """Mean lightness and hue (a, b) difference between a seen skin texel and its mirror image."""
    seen = tex.visible & ~feature_mask(model, SIZE)
    jm = mirror_texels(SIZE)
    ys, xs = np.nonzero(seen & (jm >= 0)[None, :])
    both = seen[ys, jm[xs]]
    col = tex.albedo.astype(np.float32) / 255
    a, b = _lab(col[ys[both], xs[both]]), _lab(col[ys[both], jm[xs[both]]])
    return float(np.abs(a[:, 0] - b[:, 0]).mean()), float(np.linalg.norm(a[:, 1:] - b[:, 1:], axis=1).mean())


def agreement(model, texs: list) -> list[float]:
    """Mean CIELAB distance between each pair of one person's textures where both see skin, exposure matched."""
    feat = feature_mask(model, SIZE)
    out = []
    for a, b in itertools.combinations(texs, 2):
        m = a.visible & b.visible & ~feat
        ca, cb = a.albedo[m].astype(np.float32) / 255, b.albedo[m].astype(np.float32) / 255
        cb = np.clip(cb * np.median(ca, 0) / np.maximum(np.median(cb, 0), 1e-3), 0, 1)
        out.append(float(np.linalg.norm(_lab(ca) - _lab(cb), axis=1).mean()))
    return out


def photos_table(model) -> dict:
    from headforge.core.landmarks import detect_landmarks
    from headforge.samples import astronaut, grace_hopper_path

    shared = config.shared_dir()
    photos = {"astronaut": astronaut(), "grace_hopper": load_image(grace_hopper_path())}
    if shared is not None:
        photos |= {p.stem: load_image(p) for p in sorted((shared / "photos").glob("*.[jp][pn]g"))}
    print(f"\n## Real photos: a seen skin texel against its mirror image ({len(photos)} photos)\n")
    print("| photo | lightness, light left in | taken off | hue, left in | taken off |")
    print("|---|---|---|---|---|")
    rows = {}
    for name, img in photos.items():
        texs = textures(model, create_avatar(img, texture_size=SIZE, detail=False, model=model))
        rows[name] = {d: mirror_difference(model, t) for d, t in texs.items()}
        (l0, h0), (l1, h1) = rows[name][False], rows[name][True]
        print(f"| {name} | {l0:.2f} | {l1:.2f} | {h0:.2f} | {h1:.2f} |")
    mean = {d: np.mean([r[d] for r in rows.values()], 0) for d in (False, True)}
    print(f"| mean | {mean[False][0]:.2f} | {mean[True][0]:.2f} | {mean[False][1]:.2f} | {mean[True][1]:.2f} |")
    result = {"mirror": {k: {str(d): v for d, v in r.items()} for k, r in rows.items()}}
    if shared is None:
        return result
    emma = load_image(shared / "photos" / "3ddfa_emma.jpg")
    debate = load_image(shared / "photos" / "3ddfa_trump_hillary.jpg")
    left = min(range(2), key=lambda i: detect_landmarks(debate, i).points[:, 0].mean())
    people = {"Emma (3 photos)": [(emma, 0), (emma, 1), (emma, 2)],
              "Trump (2 photos)": [(load_image(shared / "photos" / "prnet_trump.jpg"), 0), (debate, left)]}
    print("\n## One person's photos: CIELAB distance between their textures (pairs, exposure matched)\n")
    print("| person | light left in | taken off |")
    print("|---|---|---|")
    for who, shots in people.items():
        texs = [textures(model, create_avatar(img, face_index=i, texture_size=SIZE, detail=False, model=model))
                for img, i in shots]
        pairs = {d: agreement(model, [t[d] for t in texs]) for d in (False, True)}
        print(f"| {who} | {' / '.join(f'{x:.1f}' for x in pairs[False])} | "
              f"{' / '.join(f'{x:.1f}' for x in pairs[True])} |")
        result[who] = {str(d): v for d, v in pairs.items()}
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", help="a set rendered with synth --albedo (none: the real photos only)")
    ap.add_argument("--shading-set", help="a set rendered with synth --albedo --shading: the light estimates "
                                          "against the true light")
    ap.add_argument("--renders", type=int, default=100)
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()
    model = load_face_model()
    out = {}
    if args.set:
        out["renders"] = renders_table(model, Path(args.set), args.renders)
    if args.shading_set:
        out["light"] = shading_table(model, Path(args.shading_set), args.renders)
    out["photos"] = photos_table(model)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
