from django.contrib import admin

from apps.threads.models import Thread


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ("thread_id", "status", "created_at", "updated_at", "expires_at")
    list_filter = ("status", "ttl_strategy")
    search_fields = ("thread_id",)
    readonly_fields = ("thread_id", "values", "interrupts", "error", "created_at", "updated_at")
    date_hierarchy = "created_at"
