"""The HTTP API: a FastAPI app whose routes translate requests into service-function calls."""

from integrity.api.app import create_app

__all__ = ["create_app"]
