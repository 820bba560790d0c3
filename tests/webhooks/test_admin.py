"""Operators read the delivery log in the admin, filtered, and cannot change it."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from guardian.shortcuts import assign_perm

from apps.runs.models import RunStatus
from apps.runs.services import run_finish
from apps.webhooks.models import WebhookDelivery
from tests.webhooks.conftest import a_run, claimed

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("assistants", "loopback_allowed"),
]


def a_delivery(status: str = "pending") -> WebhookDelivery:
    run = claimed(a_run("http://127.0.0.1:9/hook"))
    run_finish(run=run, status=RunStatus.SUCCESS, output={}, error=None, values={})
    delivery = WebhookDelivery.objects.get(run_id=run.run_id)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=status)
    return delivery


def test_the_delivery_log_is_listed_and_filtered_by_status():
    failed, succeeded = a_delivery("failed"), a_delivery("succeeded")
    operator = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client = Client()
    client.force_login(operator)

    page = client.get("/admin/webhooks/webhookdelivery/?status__exact=failed").content.decode()

    assert str(failed.run_id) in page
    assert str(succeeded.run_id) not in page


def test_the_delivery_log_is_read_only_even_for_superusers():
    delivery = a_delivery()
    admin = get_user_model().objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)
    change = f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/"

    assert client.get(change).status_code == 200
    assert client.post(change, {"status": "succeeded"}).status_code == 403
    assert client.get("/admin/webhooks/webhookdelivery/add/").status_code == 403
    assert client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/delete/").status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_an_object_permission_shows_exactly_that_delivery():
    granted, hidden = a_delivery(), a_delivery()
    operator = get_user_model().objects.create_user("op", password="pw", is_staff=True)
    assign_perm("webhooks.view_webhookdelivery", operator, granted)
    client = Client()
    client.force_login(operator)

    page = client.get("/admin/webhooks/webhookdelivery/").content.decode()

    assert str(granted.run_id) in page
    assert str(hidden.run_id) not in page
