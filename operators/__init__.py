"""Thin Blender operators: validate input, run core work off the main thread, build data on it."""

from __future__ import annotations


def register():
    from . import create_head, rig_export

    create_head.register()
    rig_export.register()


def unregister():
    from . import create_head, rig_export

    rig_export.unregister()
    create_head.unregister()
