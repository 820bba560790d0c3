from django.db import migrations

from apps.tenancy.grants import grant_to_roles

VIEW = ["view_webhookdelivery"]


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_webhook_delivery"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(
            grant_to_roles("webhooks", {"admin": VIEW, "owner": VIEW}), migrations.RunPython.noop
        )
    ]
