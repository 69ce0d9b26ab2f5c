"""Files from an :class:`~headforge.core.pipeline.Avatar` that need no Blender: ``mesh.obj`` (+ ``.mtl``),
``albedo.png``, ``overlay.png`` and ``fit.json``. Every file is written atomically."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from .errors import OutputError
from .fileio import write_bytes, write_json, write_text
from .overlay import draw_overlay

CORE_OUTPUTS = ("mesh.obj", "mesh.mtl", "albedo.png", "overlay.png", "fit.json")
#: written beside them when the head has fine detail
DETAIL_OUTPUTS = ("displacement.png", "normal.png")

#: flat colours (sRGB) for the parts that do not use the photo texture
PART_COLOURS = {
    "M_GumsTongue": (0.62, 0.30, 0.30), "M_Teeth": (0.90, 0.87, 0.80),
    "M_ScleraLeft": (0.90, 0.88, 0.86), "M_ScleraRight": (0.90, 0.88, 0.86),
    "M_IrisLeft": (0.30, 0.22, 0.15), "M_IrisRight": (0.30, 0.22, 0.15),
    "M_EyeLashes": (0.05, 0.04, 0.04), "M_MouthSocket": (0.36, 0.13, 0.13),
}
#: helper meshes that are see-through (tear film, shadowing shells around the eye)
TRANSPARENT_PARTS = ("M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion")


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG of an (H, W, 3) RGB or (H, W, 4) RGBA uint8 image."""
    order = [2, 1, 0, 3] if rgb.shape[2] == 4 else [2, 1, 0]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, order]))
    if not ok:
        raise OutputError("Could not encode a PNG image.")
    return buf.tobytes()


def obj_text(model, vertices: np.ndarray, mtl_name: str = "mesh.mtl") -> str:
    """Wavefront OBJ: vertices in cm (ICT order), skin-atlas UVs, polygons grouped by material."""
    uv, inv = np.unique(np.round(model.loop_uv.astype(np.float64), 6), axis=0, return_inverse=True)
    inv = inv.ravel()
    out = io.StringIO()
    out.write("# Headforge head (ICT-FaceKit topology, (c) 2020 USC ICT, MIT licence); units: cm\n")
    out.write(f"mtllib {mtl_name}\n")
    np.savetxt(out, vertices, fmt="v %.5f %.5f %.5f")
    np.savetxt(out, uv, fmt="vt %.6f %.6f")
    lv = model.loop_vertex + 1
    lt = inv + 1
    corner = np.char.add(np.char.add(lv.astype(str), "/"), lt.astype(str))
    pm, names = model.parts
    order = np.argsort(pm, kind="stable")
    cur = None
    for p in order:
        m = pm[p]
        if m != cur:
            cur = m
            out.write(f"usemtl {names[m]}\n")
        s = model.poly_start[p]
        out.write("f " + " ".join(corner[s:s + model.poly_size[p]]) + "\n")
    return out.getvalue()


def mtl_text(model, albedo_name: str = "albedo.png") -> str:
    lines = ["# Headforge materials"]
    for name in model.parts[1]:
        lines.append(f"newmtl {name}")
        if name in ("M_Face", "M_BackHead"):
            lines += ["Kd 1 1 1", f"map_Kd {albedo_name}"]
        elif name in TRANSPARENT_PARTS:
            lines += ["Kd 1 1 1", "d 0"]
        else:
            lines.append("Kd %.3f %.3f %.3f" % PART_COLOURS.get(name, (0.8, 0.8, 0.8)))
        lines += ["Ks 0.05 0.05 0.05", "Ns 30", ""]
    return "\n".join(lines)


def write_core_outputs(avatar, out_dir: str | Path, overwrite: bool = False) -> dict[str, Path]:
    """Write ``mesh.obj``, ``mesh.mtl``, ``albedo.png``, ``overlay.png`` and ``fit.json`` into
    ``out_dir``. Existing files are kept unless ``overwrite``; raises :class:`OutputError`."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"Cannot create the output folder {str(out)!r}: {e.strerror}. Choose a folder "
                          "you can write to.") from None
    if not overwrite:
        existing = [n for n in CORE_OUTPUTS if (out / n).exists()]
        if existing:
            raise OutputError(f"{str(out)!r} already has {', '.join(existing)}. Pass --overwrite (or tick "
                              "'Overwrite') to replace them, or choose another folder.")
    paths = {}
    try:
        paths["albedo.png"] = write_bytes(out / "albedo.png", png_bytes(avatar.albedo))
        seg = avatar.segmentation
        ov = draw_overlay(avatar.image, avatar.model, avatar.vertices, avatar.camera, avatar.detected68,
                          avatar.projected68, covered=None if seg is None else seg.covered_image())
        paths["overlay.png"] = write_bytes(out / "overlay.png", png_bytes(ov))
        paths["mesh.mtl"] = write_text(out / "mesh.mtl", mtl_text(avatar.model))
        paths["mesh.obj"] = write_text(out / "mesh.obj", obj_text(avatar.model, avatar.vertices))
        if avatar.detail is not None:
            from .detail import encode_uint16

            ok, buf = cv2.imencode(".png", encode_uint16(avatar.detail.uv)[0])
            paths["displacement.png"] = write_bytes(out / "displacement.png", buf.tobytes())
            paths["normal.png"] = write_bytes(out / "normal.png", png_bytes(avatar.detail_normal_map()))
        paths["fit.json"] = write_json(out / "fit.json", avatar.fit_report())
    except PermissionError as e:
        raise OutputError(f"Cannot write into {str(out)!r}: {e.strerror}. Choose a folder you can write to.") from None
    return paths
