"""longbench: long-prompt text-to-image evaluation.

Importing this package is cheap (no torch); heavy modules are imported where used.
"""

__version__ = "0.1.0"

from longbench.errors import LongbenchError

__all__ = ["LongbenchError", "__version__"]
