"""Thin Blender operators: validate input, run core work off the main thread, build data on it."""

from __future__ import annotations


def register():
    from . import create_head

    create_head.register()


def unregister():
    from . import create_head

    create_head.unregister()
