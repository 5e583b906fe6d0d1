"""Service integration fixtures (real PostgreSQL, private Redis)."""

from tests.service_support import pg_database_url, redis_server  # noqa: F401
