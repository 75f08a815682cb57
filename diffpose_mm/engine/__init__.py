from . import checkpoint, hooks  # noqa: F401
