from django.contrib import admin

from apps.tenancy.admin import OperatorAdmin
from apps.threads.models import Thread


@admin.register(Thread)
class ThreadAdmin(OperatorAdmin):
    list_display = ("thread_id", "tenant", "owner", "status", "created_at", "expires_at")
    list_filter = ("status", "ttl_strategy", "tenant")
    search_fields = ("thread_id",)
    readonly_fields = ("thread_id", "values", "interrupts", "error", "created_at", "updated_at")
    date_hierarchy = "created_at"
