"""Blender glue: properties, preferences and the sidebar panel. Imports bpy (Blender only)."""

from __future__ import annotations


def register():
    from . import panel, preferences, properties

    preferences.register()
    properties.register()
    panel.register()


def unregister():
    from . import panel, preferences, properties

    panel.unregister()
    properties.unregister()
    preferences.unregister()
