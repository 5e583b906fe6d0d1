"""The worker process's Celery app: the shared configuration, built from the environment.

`celery -A workers.app worker` (or `integrity worker`) runs it; the tasks live in
`workers.tasks`, loaded through the app's `include`.
"""

from __future__ import annotations

from integrity.config import get_settings
from integrity.service.queues import create_celery

app = create_celery(get_settings())
