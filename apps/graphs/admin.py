from django.contrib import admin

from apps.graphs.models import Assistant, AssistantVersion
from apps.tenancy.admin import OperatorAdmin


class AssistantVersionInline(admin.TabularInline):
    model = AssistantVersion
    extra = 0
    can_delete = False
    fields = ("version", "graph_id", "name", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Assistant)
class AssistantAdmin(OperatorAdmin):
    list_display = ("assistant_id", "name", "graph_id", "tenant", "version", "updated_at")
    list_filter = ("graph_id", "tenant")
    search_fields = ("assistant_id", "name", "graph_id")
    readonly_fields = ("assistant_id", "version", "created_at", "updated_at")
    inlines = [AssistantVersionInline]
