"""Synthetic Preview: render a few synthetic training faces inside Blender (small counts, for looking).

Large sets are made with ``python -m headforge synth`` (Dask, fresh processes). Here the same generator
renders in this Blender, one sample per timer tick so the interface stays live between frames; Esc
cancels. The images go to a folder and a contact sheet opens as the image "Headforge synth preview".
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy

from ..core.errors import HeadforgeError


class HEADFORGE_OT_synth_preview(bpy.types.Operator):
    """Render a few synthetic training faces (procedural skin, HDRI lighting) to preview the generator"""

    bl_idname = "headforge.synth_preview"
    bl_label = "Synthetic Preview"
    bl_options = {"REGISTER"}

    count: bpy.props.IntProperty(name="Count", default=8, min=1, max=64, description="How many faces to render")
    size: bpy.props.IntProperty(name="Size", default=224, min=32, max=1024,
                                description="Width and height of each render in pixels")
    seed: bpy.props.IntProperty(name="Seed", default=7,
                                description="The same seed renders the same people (change it for others)")
    details: bpy.props.BoolProperty(name="Fine detail", default=False,
                                    description="Also render wrinkle displacement and its ground-truth map")
    directory: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH", default="",
                                        description="Where the renders go (empty: a new temporary folder)")

    _timer = None

    def _start(self, context):
        from ..addon.preferences import face_model_path
        from ..addon.synth_scene import SynthScene
        from ..core import synth as S
        from ..core.correspondence import load_correspondence
        from ..core.facemodel import load_face_model

        self.cfg = S.SynthConfig(count=self.count, size=self.size, seed=self.seed, details=self.details)
        self.model = load_face_model(face_model_path(context))
        self.corr = load_correspondence(self.model)
        self.out = Path(bpy.path.abspath(self.directory)) if self.directory else Path(tempfile.mkdtemp(prefix="headforge-preview-"))
        self.out.mkdir(parents=True, exist_ok=True)
        self.scene = SynthScene(self.model, self.cfg)
        self.next = 0
        self.paths = []

    def _step(self):
        from ..core import synth as S

        i = self.next
        p = S.sample_params(self.cfg, i, self.model)
        detail = S.detail_map(self.model, p["details"], self.cfg.detail_size) if self.cfg.details else None
        verts, cam, _ = S.labels_for(self.model, self.corr, p, self.cfg.size, detail)
        path = self.out / f"{i:08d}.png"
        self.scene.render(p, verts, cam, path, detail)
        self.paths.append(path)
        self.next += 1

    def _finish(self, context):
        import cv2

        from ..core.synth import contact_grid

        sheet_path = self.out / "contact_sheet.png"
        cv2.imwrite(str(sheet_path), contact_grid(self.paths))
        old = bpy.data.images.get("Headforge synth preview")
        if old is not None:
            bpy.data.images.remove(old)
        img = bpy.data.images.load(str(sheet_path))
        img.name = "Headforge synth preview"
        bpy.data.scenes.remove(self.scene.scene)
        self.report({"INFO"}, f"Rendered {len(self.paths)} synthetic faces into {self.out}")

    def execute(self, context):
        try:
            self._start(context)
            while self.next < self.cfg.count:
                self._step()
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._finish(context)
        return {"FINISHED"}

    def invoke(self, context, event):
        try:
            self._start(context)
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.05, window=context.window)
        wm.progress_begin(0, self.cfg.count)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        wm = context.window_manager
        if event.type == "ESC" and event.value == "PRESS":
            self._stop(context)
            bpy.data.scenes.remove(self.scene.scene)
            self.report({"WARNING"}, f"Synthetic preview cancelled after {self.next} images ({self.out}).")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        self._step()
        wm.progress_update(self.next)
        if self.next < self.cfg.count:
            return {"RUNNING_MODAL"}
        self._stop(context)
        self._finish(context)
        return {"FINISHED"}

    def _stop(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()


def register():
    bpy.utils.register_class(HEADFORGE_OT_synth_preview)


def unregister():
    bpy.utils.unregister_class(HEADFORGE_OT_synth_preview)
