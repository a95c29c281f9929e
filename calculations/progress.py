import logging
import time
import uuid
from datetime import datetime

from django.db import DatabaseError

from calculations.models import Calculation
from equations.base import CalculationCancelled

logger = logging.getLogger(__name__)


class ProgressRecorder:
    """The Progress callback handed to a computation by the worker that claimed it.

    At most once per interval it stores the fraction done, with an UPDATE that only matches
    while the claim still stands and no cancel was requested; when it matches nothing, the
    computation is stopped by raising CalculationCancelled. One query does both.
    """

    def __init__(self, *, calculation_id: uuid.UUID, started_at: datetime, interval: float):
        self._rows = Calculation.objects.filter(
            pk=calculation_id,
            status=Calculation.Status.RUNNING,
            started_at=started_at,
            cancel_requested_at__isnull=True,
        )
        self._interval = interval
        self._next_write = time.monotonic() + interval

    def __call__(self, fraction_done: float) -> None:
        now = time.monotonic()
        if now < self._next_write:
            return
        self._next_write = now + self._interval
        try:
            still_claimed = self._rows.update(progress=min(max(fraction_done, 0.0), 1.0))
        except DatabaseError as error:
            # Progress is best effort: a database hiccup must not fail the calculation.
            logger.warning("progress not recorded: %s", error)
            return
        if not still_claimed:
            raise CalculationCancelled()
