"""Build the Blender extension zip with its Python dependencies bundled as wheels.

Blender ships numpy but not scipy, OpenCV or MediaPipe (nor matplotlib, which MediaPipe imports). The
extension format installs wheels listed in the manifest, so this script:

1. copies the tracked project files into ``build/extension-<platform>/``;
2. bundles the assets Create Head needs into its ``assets/`` folder, each with its licence: the ICT-FaceKit face
   model (MIT) and MediaPipe's canonical face mesh (Apache-2.0), from ``../shared`` or the paths given (they
   are build inputs, never committed), so an installed zip works with no preference set;
3. downloads binary wheels for Blender's Python (CPython 3.11) on that platform, pinned to the versions
   this checkout was tested with (``pip download --only-binary=:all: --no-deps``);
4. writes a manifest with ``platforms`` and ``wheels`` added;
5. runs Blender's ``blender_ext.py build``.

Usage: ``python scripts/build_extension.py [--platform linux-x64|windows-x64|macos-arm64|macos-x64]
[--out dist] [--no-wheels] [--face-model PATH] [--mediapipe-mesh PATH] [--no-assets]``. ``make extension``
runs it for this machine's platform.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Blender platform name -> pip platform tags
PLATFORM_TAGS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                  "manylinux2014_x86_64", "manylinux1_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64", "macosx_12_0_arm64", "macosx_13_0_arm64", "macosx_14_0_arm64"],
    "macos-x64": ["macosx_10_9_x86_64", "macosx_10_13_x86_64", "macosx_10_15_x86_64", "macosx_11_0_x86_64"],
}

#: what the extension imports beyond Blender's own Python; their dependencies are added from the
#: installed metadata (mediapipe's own list is not followed: it names jax, sounddevice, ... that face mesh
#: does not use, which is why the Makefile installs it with --no-deps)
DEPENDENCIES = ["mediapipe", "opencv-python-headless", "scipy", "pillow", "absl-py", "attrs", "flatbuffers",
                "protobuf", "matplotlib", "onnxruntime", "dlib-bin"]
#: shipped with Blender itself
BLENDER_PROVIDES = {"numpy", "requests", "certifi", "idna", "urllib3", "charset-normalizer", "zstandard"}


def this_platform() -> str:
    m = platform.machine().lower()
    if sys.platform.startswith("linux"):
        return "linux-x64"
    if sys.platform == "win32":
        return "windows-x64"
    return "macos-arm64" if m in ("arm64", "aarch64") else "macos-x64"


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def pinned() -> list[str]:
    """The dependencies and what they need (from installed metadata), each at the installed (tested)
    version."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    env = dict(default_environment(), python_version="3.11", extra="")
    todo, seen = [_norm(d) for d in DEPENDENCIES], set()
    while todo:
        name = todo.pop()
        if name in seen or name in BLENDER_PROVIDES:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise SystemExit(f"{name} is not installed in this environment; run `make install` first.")
        if name == "mediapipe":
            continue
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(_norm(req.name))
    return sorted(f"{n}=={md.version(n)}" for n in seen)


def manifest_with_wheels(text: str, plat: str, wheels: list[str]) -> str:
    """Insert top-level ``platforms`` and ``wheels`` keys before the first table of a manifest."""
    lines = text.splitlines()
    first_table = next((i for i, ln in enumerate(lines) if ln.strip().startswith("[")), len(lines))
    add = [f'platforms = ["{plat}"]', "wheels = ["] + [f'  "./wheels/{w}",' for w in wheels] + ["]", ""]
    return "\n".join(lines[:first_table] + add + lines[first_table:]) + "\n"


MEDIAPIPE_NOTICE = """face_model_with_iris.obj / canonical_face_model.obj: the canonical face geometry of MediaPipe's
face mesh, from the google-ai-edge/mediapipe repository (mediapipe/modules/face_geometry/data/).
Copyright The MediaPipe Authors. Licensed under the Apache License, Version 2.0 (LICENSE, beside this file).
"""


def bundle_assets(stage: Path, face_model: Path | None, mediapipe_mesh: Path | None) -> None:
    """Copy the face model and MediaPipe's canonical mesh into ``stage/assets`` where ``core.config`` looks,
    with their licences; a missing asset or licence stops the build with what to do."""
    from headforge.core import config

    if face_model is None or not face_model.is_file():
        raise SystemExit(f"No ICT-FaceKit FaceXModel.tar.xz at {face_model}: pass --face-model PATH (or "
                         "FACE_MODEL=PATH to make), or --no-assets for a zip without it.")
    licence = face_model.parent / "LICENSE"
    if not licence.is_file():
        raise SystemExit(f"ICT-FaceKit's MIT licence must travel with the model: put its LICENSE beside {face_model}.")
    if mediapipe_mesh is None or not mediapipe_mesh.is_file():
        raise SystemExit(f"No MediaPipe canonical face mesh at {mediapipe_mesh}: pass --mediapipe-mesh PATH (or "
                         "MEDIAPIPE_MESH=PATH to make), or --no-assets.")
    model_dst = stage / "assets" / config.FACE_MODEL_FILE
    model_dst.parent.mkdir(parents=True)
    shutil.copy2(face_model, model_dst)
    shutil.copy2(licence, model_dst.parent / "LICENSE")
    mesh_dst = stage / "assets" / config.MEDIAPIPE_MESH_FILES[0].parent / mediapipe_mesh.name
    if mesh_dst.relative_to(stage / "assets") not in config.MEDIAPIPE_MESH_FILES:
        raise SystemExit(f"{mediapipe_mesh.name!r} is not one of MediaPipe's canonical meshes "
                         f"({', '.join(p.name for p in config.MEDIAPIPE_MESH_FILES)}).")
    mesh_dst.parent.mkdir(parents=True)
    shutil.copy2(mediapipe_mesh, mesh_dst)
    apache = next(f for f in md.distribution("mediapipe").files if f.name == "LICENSE")  # MediaPipe's own licence
    shutil.copy2(apache.locate(), mesh_dst.parent / "LICENSE")
    (mesh_dst.parent / "NOTICE").write_text(MEDIAPIPE_NOTICE)
    bundle_descriptor(stage)
    size = sum(p.stat().st_size for p in (stage / "assets").rglob("*") if p.is_file())
    print(f"bundling the face model, MediaPipe's mesh and the face descriptor ({size / 1e6:.0f} MB) with their "
          "licences")


DESCRIPTOR_NOTICE = """dlib_face_recognition_resnet_model_v1.dat: dlib's ResNet face-recognition network, from the
face-recognition-models package (https://github.com/ageitgey/face_recognition_models), released into the public
domain by its author, Davis E. King (dlib-models). Headforge uses it only to tell whether several photos show one
person.
"""


def bundle_descriptor(stage: Path) -> None:
    """Copy the face descriptor's weights (``core.descriptor``, from the installed face-recognition-models
    package; only that file of its four) into ``stage/assets``, with a notice of where they come from."""
    from headforge.core import descriptor

    src = descriptor.model_path()
    if src is None or not src.is_file():
        raise SystemExit("The face descriptor's weights are not installed: run `make install` (it installs "
                         "face-recognition-models), or --no-assets.")
    dst = stage / "assets" / descriptor.BUNDLED_FILE
    dst.parent.mkdir(parents=True)
    shutil.copy2(src, dst)
    (dst.parent / "NOTICE").write_text(DESCRIPTOR_NOTICE)


def blender_ext_tool() -> Path:
    import bpy  # the module carries Blender's extension tool

    return Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--platform", default=this_platform(), choices=sorted(PLATFORM_TAGS))
    ap.add_argument("--out", default=str(ROOT / "dist"))
    ap.add_argument("--no-wheels", action="store_true", help="only Headforge's code (Blender must already "
                                                             "have the dependencies)")
    ap.add_argument("--face-model", type=Path, help="ICT-FaceKit FaceXModel.tar.xz to bundle, with its LICENSE "
                                                    "beside it (default: the configured one, e.g. ../shared)")
    ap.add_argument("--mediapipe-mesh", type=Path,
                    help="MediaPipe's face_model_with_iris.obj or canonical_face_model.obj to bundle (default: the "
                         "configured one)")
    ap.add_argument("--no-assets", action="store_true", help="bundle neither (users set the Face model preference "
                                                             "and HEADFORGE_MEDIAPIPE_MESH)")
    args = ap.parse_args(argv)

    stage = ROOT / "build" / f"extension-{args.platform}"
    shutil.rmtree(stage, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            dst = stage / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    if not args.no_assets:
        from headforge.core import config

        bundle_assets(stage, args.face_model or config.face_model_path(),
                      args.mediapipe_mesh or config.mediapipe_mesh_path())
    manifest = (ROOT / "blender_manifest.toml").read_text()
    if not args.no_wheels:
        wheel_dir = stage / "wheels"
        wheel_dir.mkdir(parents=True)
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--only-binary=:all:",
               "--no-deps", "--python-version", "3.11", "--implementation", "cp", "-d", str(wheel_dir)]
        for tag in PLATFORM_TAGS[args.platform]:
            cmd += ["--platform", tag]
        subprocess.run(cmd + pinned(), check=True)
        wheels = sorted(p.name for p in wheel_dir.glob("*.whl"))
        manifest = manifest_with_wheels(manifest, args.platform, wheels)
        print(f"bundling {len(wheels)} wheels ({sum(p.stat().st_size for p in wheel_dir.glob('*.whl')) / 1e6:.0f} MB)")
    (stage / "blender_manifest.toml").write_text(manifest)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    tool = blender_ext_tool()
    subprocess.run([sys.executable, str(tool), "validate", str(stage)], check=True)
    subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(stage), "--output-dir", args.out],
                   check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
