"""`make demo`: turn the default photo (scikit-image's astronaut) into a head and say where it is."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from headforge.samples import astronaut, write_png  # noqa: E402

from headforge.cli import main  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/demo")
    args = ap.parse_args()
    out = Path(args.out)
    photo = write_png(astronaut(), out.parent / "astronaut.png")
    rc = main(["create", str(photo), "--out", str(out), "--overwrite"])
    if rc == 0:
        print("\nDemo outputs:")
        for f in sorted(out.iterdir()):
            print(f"  {f.resolve()}  ({f.stat().st_size / 1e6:.1f} MB)")
        print("Open head.blend in Blender, or look at overlay.png and albedo.png.")
    sys.exit(rc)
