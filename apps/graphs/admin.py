from django.contrib import admin

from apps.graphs.models import Assistant, AssistantVersion


class AssistantVersionInline(admin.TabularInline):
    model = AssistantVersion
    extra = 0
    can_delete = False
    fields = ("version", "graph_id", "name", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    list_display = ("assistant_id", "name", "graph_id", "version", "updated_at")
    list_filter = ("graph_id",)
    search_fields = ("assistant_id", "name", "graph_id")
    readonly_fields = ("assistant_id", "version", "created_at", "updated_at")
    inlines = [AssistantVersionInline]
