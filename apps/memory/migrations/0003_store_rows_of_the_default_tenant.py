"""The namespace rows of the items stored before tenancy, all in the default tenant (0002
moved the items there), and each item's reference to its row."""

import uuid

from django.db import migrations
from django.db.models import OuterRef, Subquery

DEFAULT_TENANT_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")
CHUNK = 1000


def add_namespace_rows(apps, schema_editor):
    StoreItem = apps.get_model("memory", "StoreItem")
    StoreNamespace = apps.get_model("memory", "StoreNamespace")
    prefixes = list(StoreItem.objects.order_by().values_list("prefix", flat=True).distinct())
    StoreNamespace.objects.bulk_create(
        (
            StoreNamespace(
                # StoreNamespace.row_id: the id derives from the tenant and the prefix.
                namespace_id=uuid.uuid5(DEFAULT_TENANT_ID, prefix),
                tenant_id=DEFAULT_TENANT_ID,
                prefix=prefix,
                depth=prefix.count(".") + 1,
            )
            for prefix in prefixes
        ),
        batch_size=CHUNK,
    )
    row = StoreNamespace.objects.filter(tenant_id=OuterRef("tenant_id"), prefix=OuterRef("prefix"))
    StoreItem.objects.update(namespace_id=Subquery(row.values("namespace_id")[:1]))


class Migration(migrations.Migration):
    dependencies = [("memory", "0002_tenant_scoped_store")]

    # Irreversible: going back would merge the tenants' namespaces into one.
    operations = [migrations.RunPython(add_namespace_rows)]
