"""The local runtime: a real PostgreSQL server and a moto server, started and stopped by the project."""
