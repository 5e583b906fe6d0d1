"""The pipeline's version, apart from the pipeline itself.

Why a module of its own: the audit trail records it on every decision, and importing the pipeline
for one string pulls in the analysis engines (scipy, ~2 s of CPU) into every CLI command.
"""

from __future__ import annotations

PIPELINE_VERSION = "2026.11.1"
"""Bump when ingest semantics change: completed deliveries of an older version are redone."""
