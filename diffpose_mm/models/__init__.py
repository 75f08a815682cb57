from . import data_preprocessors, diffusion, heads, necks, pose_estimators  # noqa: F401
