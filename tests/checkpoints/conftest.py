import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.checkpoints.saver import DjangoSaver
from apps.core.dbthreads import db_threads


@pytest.fixture
def saver() -> DjangoSaver:
    return DjangoSaver()


@pytest.fixture
def queries_of():
    """How many SQL statements a call makes through Django on the saver's database thread."""

    def count(fn) -> int:
        def captured() -> int:
            with CaptureQueriesContext(connection) as queries:
                fn()
            return len(queries)

        return db_threads().run(captured)

    return count
