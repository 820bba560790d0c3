"""Long-term memory: the LangGraph store's namespaces, items and embedding vectors.

Every row belongs to one tenant. A namespace such as ``("users", "42", "notes")`` is stored as
its labels joined with ``"."`` (labels cannot contain ``"."``) in ``prefix``. Text in
``prefix`` compares code point by code point on both databases (SQLite's default BINARY
collation, PostgreSQL's ``"C"``), so ``tenant_id = t AND prefix >= 'a.b.' AND prefix <
'a.b/'`` selects exactly tenant ``t``'s namespaces under ``("a", "b")`` as one range of an
index that leads with (tenant, prefix).
"""

from __future__ import annotations

import json
import uuid

from django.db import models
from django.db.models import Q

from apps.tenancy.models import Tenant


class NamespaceField(models.TextField):
    """Text that sorts and compares by code point on every database.

    On PostgreSQL the column gets the ``"C"`` collation: the default locale collation ignores
    punctuation at first level, which would break the range scans above.
    """

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params


class SortedKeysJSONEncoder(json.JSONEncoder):
    """Writes object keys sorted, so equal objects are equal text on SQLite too (PostgreSQL's
    jsonb normalises objects itself); the search filters compare nested objects that way."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["sort_keys"] = True
        super().__init__(*args, **kwargs)


class StoreNamespace(models.Model):
    """A namespace of one tenant that holds at least one item: the store's services add the
    row with the namespace's first item and delete it with the last one, so namespace listings
    read this small table instead of every item. ``StoreItem.namespace`` references it, so an
    item can never exist without its namespace row.

    The id is a UUIDv5 of the tenant and the prefix (``row_id``), so a writer knows the id of
    the row its items reference without reading it: a put stays one statement.
    """

    namespace_id = models.UUIDField(primary_key=True)
    # CASCADE, unlike the DO_NOTHING links inside the store: Django emulates it, but since no
    # emulated cascade leads on from these rows it is a "fast delete", one DELETE ... WHERE
    # tenant_id per store table that loads no rows. All three tables carry the tenant, so
    # deleting a tenant removes its namespaces, items and vectors in one transaction and the
    # foreign keys between them (checked at commit) find no orphan.
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        db_index=False,  # the (tenant, prefix) unique index leads with it
        related_name="store_namespaces",
    )
    prefix = NamespaceField(help_text='Namespace labels joined with ".".')
    depth = models.PositiveSmallIntegerField(help_text="Number of namespace labels.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "prefix"], name="memory_namespace_tenant_prefix_uniq"
            ),
            models.CheckConstraint(
                condition=Q(depth__gte=1) & ~Q(prefix=""), name="memory_namespace_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.prefix

    @staticmethod
    def row_id(tenant_id: uuid.UUID, prefix: str) -> uuid.UUID:
        """The id of the row of namespace ``prefix`` in tenant ``tenant_id``."""
        return uuid.uuid5(tenant_id, prefix)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.prefix.split("."))


class StoreItem(models.Model):
    # ``tenant`` and ``prefix`` copy the namespace row's (the services write all three from
    # one namespace tuple), so searches range-scan the (tenant, prefix, key) index without a
    # join.
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,  # see StoreNamespace.tenant
        db_index=False,  # the (tenant, prefix, key) unique index leads with it
        related_name="store_items",
    )
    namespace = models.ForeignKey(
        StoreNamespace,
        on_delete=models.DO_NOTHING,  # namespaces are deleted by the services, once empty
        related_name="items",
    )
    prefix = NamespaceField(help_text='Namespace labels joined with ".".')
    key = models.TextField()
    value = models.JSONField(encoder=SortedKeysJSONEncoder)
    owner = models.CharField(
        max_length=255, blank=True, default="", help_text="Who wrote the item last."
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    ttl_minutes = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "prefix", "key"], name="memory_item_tenant_prefix_key_uniq"
            ),
            models.CheckConstraint(
                condition=Q(ttl_minutes__isnull=True, expires_at__isnull=True)
                | Q(ttl_minutes__gt=0, expires_at__isnull=False),
                name="memory_item_ttl_has_expiry",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(expires_at__isnull=False),
                name="memory_item_expires_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}/{self.key}"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.prefix.split("."))


class StoreVector(models.Model):
    """One embedding of one text extracted from an item (an item has one per indexed text).

    Vectors are unit-length float32 arrays, so a dot product is the cosine similarity.
    ``item`` is ``DO_NOTHING`` because Django 5.2 cannot declare ``ON DELETE CASCADE`` in the
    schema and its emulated cascade loads every deleted item; the store's services delete an
    item's vectors in the same transaction as the item, and the foreign key (checked at commit)
    rejects any path that forgets. ``tenant`` copies the item's, so that deleting a tenant
    deletes its vectors without going through the items (see StoreNamespace.tenant).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="store_vectors")
    item = models.ForeignKey(StoreItem, on_delete=models.DO_NOTHING, related_name="vectors")
    field = models.TextField(help_text="The JSON path the embedded text was read from.")
    embedding = models.BinaryField()

    def __str__(self) -> str:
        return f"{self.item_id}:{self.field}"
