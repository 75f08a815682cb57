from . import checkpoint, hooks, runner  # noqa: F401
