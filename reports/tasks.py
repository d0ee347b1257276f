from celery import shared_task

from .sampling import sample
from .source import read_status


@shared_task(name="reports.sample_stats", ignore_result=True)
def sample_stats() -> int:
    """Periodic (Celery beat, every minute): sample connections and throughput per service."""
    status = read_status()
    return sample(status) if status else 0
