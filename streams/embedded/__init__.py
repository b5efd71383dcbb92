"""The embedded default: a tansu broker and a redis-server, started and stopped by pid."""
