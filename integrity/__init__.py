"""integrity: catalog-integrity service for music streaming platforms and distributors."""

__version__ = "0.1.0"
