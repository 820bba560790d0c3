from django.db import migrations

DEFAULT_TENANT_ID = "00000000-0000-0000-0000-000000000001"


def create_default_tenant(apps, schema_editor):
    Tenant = apps.get_model("tenancy", "Tenant")
    Tenant.objects.get_or_create(
        tenant_id=DEFAULT_TENANT_ID, defaults={"slug": "default", "name": "Default"}
    )


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]

    operations = [migrations.RunPython(create_default_tenant, migrations.RunPython.noop)]
