from celery import shared_task

from apps.threads.services import threads_sweep_expired


@shared_task(name="threads.sweep_expired")
def sweep_expired() -> int:
    """Apply the TTL strategy of every expired thread (beat, every few minutes)."""
    return threads_sweep_expired()
