"""srelab package."""
