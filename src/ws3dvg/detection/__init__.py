"""Detector data, losses, metrics and training; the proposal cache."""
