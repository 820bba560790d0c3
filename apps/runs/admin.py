from django.contrib import admin

from apps.runs.models import Run
from apps.tenancy.admin import OperatorAdmin


@admin.register(Run)
class RunAdmin(OperatorAdmin):
    """Runs are written by the executor; the admin shows them (and may delete finished ones)."""

    list_display = ("run_id", "tenant", "thread_id", "graph_id", "status", "attempt", "created_at")
    list_filter = ("status", "graph_id", "multitask_strategy", "tenant")
    search_fields = ("run_id", "thread__thread_id")
    # The principal a run acts for may hold what a project's auth handler returned (tokens):
    # it is not shown.
    exclude = ("principal",)
    readonly_fields = [field.name for field in Run._meta.fields if field.name != "principal"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
