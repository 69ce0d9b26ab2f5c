"""Thin Blender operators: validate input, run core work off the main thread, build data on it."""

from __future__ import annotations


def register():
    from . import create_head, rig_export, synth_preview

    create_head.register()
    rig_export.register()
    synth_preview.register()


def unregister():
    from . import create_head, rig_export, synth_preview

    synth_preview.unregister()
    rig_export.unregister()
    create_head.unregister()
