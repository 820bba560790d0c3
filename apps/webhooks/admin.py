from django.contrib import admin

from apps.core.admin import ViewOnlyAdminMixin
from apps.tenancy.admin import OperatorAdmin
from apps.webhooks.models import WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ViewOnlyAdminMixin, OperatorAdmin):
    """The delivery log: written by the run's end and the ``webhooks.deliver`` task, read-only
    here."""

    list_display = (
        "delivery_id",
        "tenant",
        "run_id",
        "url",
        "status",
        "attempts",
        "response_code",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "response_code", "tenant")
    search_fields = ("delivery_id", "run_id", "thread_id", "url")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    date_hierarchy = "created_at"
