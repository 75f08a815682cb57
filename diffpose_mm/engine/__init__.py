from . import checkpoint, runner  # noqa: F401
