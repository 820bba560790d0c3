"""A read-mostly admin for the store: browse and search items, delete through the service."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.memory import services
from apps.memory.models import StoreItem


@admin.register(StoreItem)
class StoreItemAdmin(admin.ModelAdmin):
    list_display = ("namespace_label", "key", "tenant", "owner", "updated_at", "expires_at")
    list_filter = ("tenant", ("expires_at", admin.EmptyFieldListFilter), "updated_at")
    list_select_related = ("tenant",)
    search_fields = ("prefix", "key")
    ordering = ("tenant", "prefix", "key")  # the unique index's order
    fields = (
        "tenant",
        "prefix",
        "key",
        "value",
        "created_at",
        "updated_at",
        "expires_at",
        "ttl_minutes",
    )
    readonly_fields = fields
    list_per_page = 50
    show_full_result_count = False  # a COUNT(*) per page view over a big store is waste

    @admin.display(description="namespace", ordering="prefix")
    def namespace_label(self, item: StoreItem) -> str:
        return " / ".join(item.labels)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: StoreItem | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: StoreItem) -> None:
        services.store_items_delete(item_ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StoreItem]) -> None:
        services.store_items_delete(item_ids=list(queryset.values_list("pk", flat=True)))
