from django import forms
from django.contrib import admin
from django.utils import timezone

from apps.core.errors import ApiError
from apps.crons.models import Cron
from apps.crons.schedules import check_schedule, check_timezone, next_slot
from apps.tenancy.admin import OperatorAdmin


class CronForm(forms.ModelForm):
    """The schedule and time zone are checked as the API checks them."""

    class Meta:
        model = Cron
        fields = (
            "schedule",
            "timezone",
            "enabled",
            "end_time",
            "on_run_completed",
            "payload",
            "metadata",
        )

    def clean_schedule(self) -> str:
        return _checked(check_schedule, self.cleaned_data["schedule"])

    def clean_timezone(self) -> str | None:
        return _checked(check_timezone, self.cleaned_data["timezone"] or None)


def _checked(check, value):
    try:
        return check(value)
    except ApiError as exc:
        raise forms.ValidationError(exc.detail) from None


@admin.register(Cron)
class CronAdmin(OperatorAdmin):
    form = CronForm
    list_display = ("cron_id", "tenant", "schedule", "timezone", "enabled", "next_run_date")
    list_filter = ("enabled", "tenant")
    search_fields = ("cron_id", "owner", "schedule")
    readonly_fields = (
        "cron_id",
        "tenant",
        "owner",
        "assistant_id",
        "thread",
        "next_run_date",
        "created_at",
        "updated_at",
    )
    fields = (
        "cron_id",
        "tenant",
        "owner",
        "assistant_id",
        "thread",
        "schedule",
        "timezone",
        "enabled",
        "end_time",
        "next_run_date",
        "on_run_completed",
        "payload",
        "metadata",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request) -> bool:
        return False  # a cron acts for its creator: create it through the API

    def save_model(self, request, obj, form, change) -> None:
        # The next slot follows the (maybe changed) schedule, time zone and end, from now.
        slot = next_slot(obj.schedule, obj.timezone, timezone.now())
        obj.next_run_date = None if obj.end_time is not None and slot > obj.end_time else slot
        super().save_model(request, obj, form, change)
