from django.db import migrations

from apps.tenancy.grants import grant_to_roles

MANAGE = ["view_cron", "add_cron", "change_cron", "delete_cron"]


class Migration(migrations.Migration):
    dependencies = [
        ("crons", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(
            grant_to_roles(
                "crons",
                {"viewer": ["view_cron"], "member": ["view_cron"], "admin": MANAGE, "owner": MANAGE},
            ),
            migrations.RunPython.noop,
        )
    ]
