from . import (data_preprocessors, diffusion, heads, necks,  # noqa: F401
               pose_estimators)
