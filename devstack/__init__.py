"""Local infrastructure for development and tests: the embedded Redis and `make run`."""
