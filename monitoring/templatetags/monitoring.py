from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def seconds_ago(moment: datetime | None) -> float | None:
    """Seconds from `moment` to now, for "3.2 s ago" without minute-rounding."""
    if moment is None:
        return None
    return (timezone.now() - moment).total_seconds()
