import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("memory", "0003_store_rows_of_the_default_tenant")]

    operations = [
        migrations.AlterField(
            model_name="storeitem",
            name="namespace",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="items",
                to="memory.storenamespace",
            ),
        ),
    ]
