"""vidcond: a benchmark of video dataset condensation methods for action recognition."""

__version__ = "0.1.0"
