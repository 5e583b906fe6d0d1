"""Service integration fixtures (real PostgreSQL, private Redis, keys made by the service code)."""

from tests.service_support import pg_database_url, redis_server, service  # noqa: F401
