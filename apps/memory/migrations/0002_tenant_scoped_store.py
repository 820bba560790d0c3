"""Store rows belong to a tenant: existing items go to the default tenant, namespaces are
unique per tenant, and an item references its namespace row by id (the rows are rebuilt by
0003, since their ids now derive from the tenant)."""

import uuid

import django.db.models.deletion
from django.db import migrations, models

import apps.memory.models

DEFAULT_TENANT_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0001_initial"),
        ("tenancy", "0002_default_tenant"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="storeitem", name="memory_item_prefix_key_uniq"),
        # The item's namespace text stays in its column, no longer a foreign key.
        migrations.AlterField(
            model_name="storeitem",
            name="prefix",
            field=apps.memory.models.NamespaceField(help_text='Namespace labels joined with ".".'),
        ),
        migrations.DeleteModel(name="StoreNamespace"),
        migrations.CreateModel(
            name="StoreNamespace",
            fields=[
                ("namespace_id", models.UUIDField(primary_key=True, serialize=False)),
                (
                    "prefix",
                    apps.memory.models.NamespaceField(help_text='Namespace labels joined with ".".'),
                ),
                ("depth", models.PositiveSmallIntegerField(help_text="Number of namespace labels.")),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="store_namespaces",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant", "prefix"), name="memory_namespace_tenant_prefix_uniq"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("depth__gte", 1), models.Q(("prefix", ""), _negated=True)
                        ),
                        name="memory_namespace_not_empty",
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="storeitem",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                default=DEFAULT_TENANT_ID,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="store_items",
                to="tenancy.tenant",
            ),
            preserve_default=False,
        ),
        # Null until 0003 points every item at its namespace's new row; 0004 requires it.
        migrations.AddField(
            model_name="storeitem",
            name="namespace",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="items",
                to="memory.storenamespace",
            ),
        ),
        migrations.AddField(
            model_name="storevector",
            name="tenant",
            field=models.ForeignKey(
                default=DEFAULT_TENANT_ID,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="store_vectors",
                to="tenancy.tenant",
            ),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="storeitem",
            constraint=models.UniqueConstraint(
                fields=("tenant", "prefix", "key"), name="memory_item_tenant_prefix_key_uniq"
            ),
        ),
    ]
