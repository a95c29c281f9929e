"""Flower's configuration file (`celery -A config flower --conf=config/flowerconfig.py`).

Flower reads its options from FLOWER_* environment variables itself (FLOWER_BASIC_AUTH,
FLOWER_PORT, ...); this file sets the address and port defaults of calcqueue and refuses to
start an unauthenticated Flower in production, where it can revoke tasks and shut workers down.
"""

import os

# Flower's own default address is every interface; calcqueue's is the loopback.
address = os.environ.get("FLOWER_ADDRESS", "127.0.0.1")
port = int(os.environ.get("FLOWER_PORT", "5555"))

if os.environ.get("CALCQUEUE_ENV") == "production" and not (
    os.environ.get("FLOWER_BASIC_AUTH") or os.environ.get("FLOWER_AUTH")
):
    raise SystemExit(
        "calcqueue: FLOWER_BASIC_AUTH=user:password is required when CALCQUEUE_ENV=production"
    )
