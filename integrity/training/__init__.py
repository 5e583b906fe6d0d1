"""Offline training: build the labeled corpus, fit the detectors, evaluate them honestly."""
