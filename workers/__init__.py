"""Celery app and thin tasks that call integrity's pipeline functions."""
