import os

from celery import shared_task

from calculations import services


@shared_task(bind=True, name="calculations.run_calculation", ignore_result=True)
def run_calculation(self, calculation_id: str) -> None:
    """Run one calculation by id; the service makes a repeated delivery a no-op."""
    services.calculation_run(
        calculation_id=calculation_id, worker=f"{self.request.hostname}:{os.getpid()}"
    )
