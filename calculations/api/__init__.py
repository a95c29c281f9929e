"""The JSON API under /api/ (django-ninja): schemas, problem-details errors, endpoints."""
