"""Datasets: the generated `synthaction` set, real layouts, frame extraction, clip sampling."""
