from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TenancyConfig(AppConfig):
    name = "apps.tenancy"
    label = "tenancy"
    verbose_name = "Tenants, API keys and audit"

    def ready(self) -> None:
        from apps.tenancy.roles import seed

        post_migrate.connect(seed, dispatch_uid="apps.tenancy.roles.seed")
