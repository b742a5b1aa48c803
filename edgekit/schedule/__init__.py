"""Multi-resource task placement (work in progress)."""
