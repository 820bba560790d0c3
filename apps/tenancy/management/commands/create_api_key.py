"""Create an API key for a user of a tenant (both made when missing) and print it once."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.tenancy.models import Role, Tenant
from apps.tenancy.services import api_key_create, membership_ensure


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", default="default", help="tenant slug (made if missing)")
        parser.add_argument("--user", required=True, help="username (made if missing)")
        parser.add_argument("--role", default=Role.MEMBER, choices=Role.values)
        parser.add_argument("--name", default="cli", help="a label for the key")
        parser.add_argument("--expires-in-days", type=float, help="default: never expires")

    def handle(self, *args, **options) -> None:
        days = options["expires_in_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-in-days must be positive")
        tenant, _ = Tenant.objects.get_or_create(
            slug=options["tenant"], defaults={"name": options["tenant"]}
        )
        membership = membership_ensure(
            tenant=tenant, username=options["user"], role=options["role"], actor="cli"
        )
        _, key = api_key_create(
            membership=membership,
            name=options["name"],
            actor="cli",
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        self.stdout.write(key)
