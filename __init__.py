"""Headforge: one photo of a person to a fitted, textured 3D head.

This file is both the Python package ``headforge`` (``pip install -e .``) and the Blender extension's
entry point. It imports ``bpy`` only inside :func:`register`, so ``import headforge.core`` works without
Blender.
"""


def __getattr__(name):  # ``headforge.__version__`` without importing the core at the extension's load
    if name == "__version__":
        from .core.config import version

        return version()
    raise AttributeError(name)


def register():
    from . import addon, operators

    addon.register()
    operators.register()


def unregister():
    from . import addon, operators

    operators.unregister()
    addon.unregister()
