"""Periodic work of the store (the beat schedule is in settings)."""

from celery import shared_task

from apps.memory import services


@shared_task(name="memory.sweep_expired_items")
def sweep_expired_items() -> int:
    """Delete the store items of every tenant whose TTL has passed; return how many.
    Idempotent: a second run finds nothing left to delete."""
    return services.store_items_sweep_expired()
