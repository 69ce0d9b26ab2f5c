"""The pattern every long Headforge operator follows: core work in a worker thread while a timer-driven modal
handler shows progress in the panel (Esc cancels), then Blender data built on the main thread as one undo step.
From scripts and headless Blender (``execute``) the same work runs synchronously."""

from __future__ import annotations

import threading

from ..core.errors import Cancelled, HeadforgeError


class BackgroundOperator:
    """Mixin for a ``bpy.types.Operator``: subclasses define ``_validate(context) -> str | None`` (main thread:
    checks the input and reads what the work needs from Blender; an error message or None),
    ``_work(progress, should_stop)`` (off the main thread, no bpy; ``progress(stage, fraction)``) and
    ``_build(context, result)`` (main thread), and ``job`` (words for messages, e.g. "Create Head")."""

    job = "The job"
    _timer = None
    _thread = None

    # -- synchronous (scripts, background) --------------------------------------------------------
    def execute(self, context):
        err = self._validate(context)
        if err:
            self.report({"ERROR"}, err)
            return {"CANCELLED"}
        try:
            result = self._work()
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return self._built(context, result)

    def _built(self, context, result):
        try:
            self._build(context, result)
        except HeadforgeError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}

    # -- interactive: worker thread + modal timer ---------------------------------------------------
    def invoke(self, context, event):
        err = self._validate(context)
        if err:
            self.report({"ERROR"}, err)
            return {"CANCELLED"}
        settings = context.scene.headforge
        if settings.running:
            self.report({"WARNING"}, "Headforge is already working; wait for it or press Esc.")
            return {"CANCELLED"}
        self._state = {"stage": "starting", "frac": 0.0, "result": None, "error": None}
        self._cancel = threading.Event()

        def progress(stage, frac):
            self._state["stage"], self._state["frac"] = stage, frac

        def work():
            try:
                self._state["result"] = self._work(progress, self._cancel.is_set)
            except HeadforgeError as e:   # Cancelled included
                self._state["error"] = e
            except Exception as e:  # a bug: report it instead of leaving Blender waiting forever
                self._state["error"] = RuntimeError(f"Unexpected error: {type(e).__name__}: {e}")

        self._thread = threading.Thread(target=work, name=f"headforge-{self.bl_idname}", daemon=True)
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
            self.report({"WARNING"}, f"{self.job} cancelled; nothing was changed.")
            return {"CANCELLED"}
        if err is not None:
            settings.status = "Failed (see the message)"
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        settings.status = "Done"
        return self._built(context, self._state["result"])

    def cancel(self, context):  # Blender closes the window / file while running
        self._cancel.set()
        self._finish(context)
