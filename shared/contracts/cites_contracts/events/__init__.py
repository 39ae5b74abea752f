"""Every event of the platform, by producer. Importing this package fills the registry."""

from . import funding, labelling, notifications, partners
from .funding import *  # noqa: F403 - each producer's module says what it exports
from .labelling import *  # noqa: F403
from .notifications import *  # noqa: F403
from .partners import *  # noqa: F403

__all__ = sorted([*funding.__all__, *labelling.__all__, *notifications.__all__,
                  *partners.__all__])
