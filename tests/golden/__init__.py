"""Pinned outputs of the engines' maths (see regenerate.py)."""
