import uuid

import django.db.models.deletion
from django.db import migrations, models

DEFAULT_TENANT_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0001_initial"),
        ("threads", "0002_tenant_owner"),
        ("tenancy", "0002_default_tenant"),
    ]

    operations = [
        # Rows stored before tenancy belong to the default tenant.
        migrations.AddField(
            model_name="run",
            name="tenant",
            field=models.ForeignKey(
                default=DEFAULT_TENANT_ID,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="runs",
                to="tenancy.tenant",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="run",
            name="owner",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddField(
            model_name="run",
            name="principal",
            field=models.JSONField(default=dict),
        ),
    ]
