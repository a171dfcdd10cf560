"""A static side-by-side viewer of runs: per item the prompt with its segments tinted by their scores, the
end of CLIP's 77-token window marked, and every run's image with its scores (``longbench view``; see
``docs/viewer.md``)."""

from longbench.viewer.build import ViewerSummary, build_viewer
from longbench.viewer.links import viewer_links

__all__ = ["ViewerSummary", "build_viewer", "viewer_links"]
