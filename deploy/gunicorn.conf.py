"""Gunicorn's configuration for calcqueue: `gunicorn -c deploy/gunicorn.conf.py`.

Threads (gthread) rather than more processes: a request is mostly database and broker waits,
and the API's `?wait=` long polls hold a thread for up to 30 s each.
"""

import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Longer than the longest ?wait= (30 s), so a long poll is never taken for a hung worker.
timeout = 60
graceful_timeout = 30
keepalive = 5
# calcqueue logs one line per request itself (monitoring/middleware.py), in LOG_FORMAT.
accesslog = None
errorlog = "-"
# The TLS proxy in front, whose X-Forwarded-* headers are believed.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
