import uuid

import django.db.models.deletion
from django.db import migrations, models

DEFAULT_TENANT_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")


class Migration(migrations.Migration):
    dependencies = [
        ("threads", "0001_initial"),
        ("tenancy", "0002_default_tenant"),
    ]

    operations = [
        # Rows stored before tenancy belong to the default tenant.
        migrations.AddField(
            model_name="thread",
            name="tenant",
            field=models.ForeignKey(
                default=DEFAULT_TENANT_ID,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="threads",
                to="tenancy.tenant",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="thread",
            name="owner",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
    ]
