import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("calcqueue")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def lower_pool_priority(**kwargs) -> None:
    """Run this worker's calculations at a lower CPU priority when configured, so that the
    short-work worker on the same host gets a core as soon as short work arrives. The main
    process keeps its priority: it renews leases and hands out messages."""
    from django.conf import settings

    if settings.CALCQUEUE_WORKER_NICE:
        os.nice(settings.CALCQUEUE_WORKER_NICE)


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(**kwargs) -> None:
    """Drop connections that are broken or older than CONN_MAX_AGE around each task, as
    Django does around each request, and keep the others for the next task."""
    from django.db import close_old_connections

    close_old_connections()
