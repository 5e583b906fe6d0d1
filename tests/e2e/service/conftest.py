"""End-to-end service fixtures: the API in-process, real workers in their own processes."""

from tests.service_support import pg_database_url, redis_server, service  # noqa: F401
