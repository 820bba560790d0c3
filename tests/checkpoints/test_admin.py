"""The checkpoint admin pages are for looking only."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from apps.checkpoints.models import Checkpoint, CheckpointBlob, CheckpointWrite


@pytest.mark.parametrize("model", [Checkpoint, CheckpointBlob, CheckpointWrite])
def test_checkpoint_admins_allow_viewing_but_no_adding_changing_or_deleting(model):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.search_fields == ["thread_id"]
    assert model_admin.list_filter == ["checkpoint_ns"]
