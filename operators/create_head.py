"""Create Head: photo -> fitted, textured head and a matching camera, as one undo step.

From the UI (``invoke``) the core pipeline runs in a worker thread while a timer-driven modal handler
shows progress; Esc cancels. From scripts and headless Blender (``execute``) it runs synchronously:
``bpy.ops.headforge.create_head(filepath="photo.jpg")``. Blender data is built on the main thread only.
"""

from __future__ import annotations

import threading
from pathlib import Path

import bpy

from ..addon.properties import CreateOptions, photo_property
from ..core.errors import Cancelled, HeadforgeError

def _validate(op) -> str | None:
    if not op.filepath:
        return "Pick a photo first (Photo field in the Headforge panel)."
    p = Path(bpy.path.abspath(op.filepath))
    if not p.exists():
        return f"The photo {str(p)!r} does not exist. Check the path."
    if p.is_dir():
        return f"{str(p)!r} is a folder; pick an image file."
    return None


class HEADFORGE_OT_create_head(CreateOptions, bpy.types.Operator):
    """Turn a photo of a person into a fitted, textured 3D head with a camera that matches the photo"""

    bl_idname = "headforge.create_head"
    bl_label = "Create Head"
    bl_options = {"REGISTER", "UNDO"}

    filepath: photo_property()
    name: bpy.props.StringProperty(name="Name", default="", description="Object name (default: the photo's name)")

    _timer = None
    _thread = None

    # -- shared ----------------------------------------------------------------------------------
    def _run_core(self, progress=None, should_stop=None):
        from ..addon.preferences import face_model_path
        from ..core import create_avatar

        avatar = create_avatar(bpy.path.abspath(self.filepath), face_index=self.face_index,
                               texture_size=int(self.texture_size), model_path=face_model_path(),
                               coarsenet=None if self.coarsenet else False,
                               landmarknet=None if self.model_points else False,
                               detail=None if self.detail else False,
                               segmentation=None if self.skin_only else False, progress=progress,
                               should_stop=should_stop)
        avatar.detail_normal_map()  # made here, off the main thread, for the head's normal-map switch
        return avatar

    def _build(self, context, avatar):
        from ..addon.build import build_head
        from ..addon.stage import needs_stage, stage_head

        name = self.name or Path(self.filepath).stem or "Head"
        unlit = needs_stage(context.scene)
        made = build_head(avatar, context, name=name, hair=self.hair)
        if unlit:  # a scene nobody has lit gets the portrait stage; an artist's own lighting is left alone
            stage_head(made["head"], made["camera"], context.scene, made["collection"])
        if self.rig:
            from ..addon.rig import add_rig

            made["rig"] = add_rig(made["head"], avatar.model, context, arkit=self.arkit52, avatar=avatar)
        for o in context.view_layer.objects:
            o.select_set(False)
        made["head"].select_set(True)
        context.view_layer.objects.active = made["head"]
        self.report({"INFO"}, f"Created {made['head'].name} (landmark error {avatar.nme68:.2f} % of eye distance, "
                              f"{avatar.timings['total']:.1f} s); camera {made['camera'].name} matches the photo")
        if avatar.quality is not None and not avatar.quality.ok:
            self.report({"WARNING"}, f"{made['head'].name} is doubtful: {'; '.join(avatar.quality.reasons)}.")
        return made

    # -- synchronous (scripts, background) --------------------------------------------------------
    def execute(self, context):
        err = _validate(self)
        if err:
            self.report({"ERROR"}, err)
            return {"CANCELLED"}
        try:
            avatar = self._run_core()
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._build(context, avatar)
        return {"FINISHED"}

    # -- interactive: worker thread + modal timer ---------------------------------------------------
    def invoke(self, context, event):
        err = _validate(self)
        if err:
            self.report({"ERROR"}, err)
            return {"CANCELLED"}
        settings = context.scene.headforge
        if settings.running:
            self.report({"WARNING"}, "A head is already being created; wait for it or press Esc.")
            return {"CANCELLED"}
        self._state = {"stage": "starting", "frac": 0.0, "result": None, "error": None}
        self._cancel = threading.Event()

        def progress(stage, frac):
            self._state["stage"], self._state["frac"] = stage, frac

        def work():
            try:
                self._state["result"] = self._run_core(progress, self._cancel.is_set)
            except Cancelled as e:
                self._state["error"] = e
            except HeadforgeError as e:
                self._state["error"] = e
            except Exception as e:  # a bug: report it instead of leaving Blender waiting forever
                self._state["error"] = RuntimeError(f"Unexpected error: {type(e).__name__}: {e}")

        self._thread = threading.Thread(target=work, name="headforge-create", daemon=True)
        self._thread.start()
        settings.running, settings.progress, settings.status = True, 0.0, "Starting..."
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _finish(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        context.scene.headforge.running = False
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()

    def modal(self, context, event):
        settings = context.scene.headforge
        if event.type == "ESC" and event.value == "PRESS":
            self._cancel.set()
            settings.status = "Cancelling..."
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        settings.progress = self._state["frac"]
        settings.status = f"{self._state['stage'].capitalize()}..."
        context.window_manager.progress_update(int(100 * self._state["frac"]))
        for area in context.screen.areas if context.screen else []:
            if area.type == "VIEW_3D":
                area.tag_redraw()
        if self._thread.is_alive():
            return {"PASS_THROUGH"}
        self._finish(context)
        err = self._state["error"]
        if isinstance(err, Cancelled):
            settings.status = "Cancelled"
            self.report({"WARNING"}, "Create Head cancelled; nothing was changed.")
            return {"CANCELLED"}
        if err is not None:
            settings.status = "Failed (see the message)"
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        self._build(context, self._state["result"])
        settings.status = "Done"
        return {"FINISHED"}

    def cancel(self, context):  # Blender closes the window / file while running
        self._cancel.set()
        self._finish(context)


def register():
    bpy.utils.register_class(HEADFORGE_OT_create_head)


def unregister():
    bpy.utils.unregister_class(HEADFORGE_OT_create_head)
