"""Data files of the supervision service (rule thresholds)."""
