"""What every benchmark script shares: Django set up against the benchmark database."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "crm_bench"


def setup_django() -> None:
    """Set up Django against DATABASE_URL; under scripts/with-test-services.sh (which sets only
    TEST_DATABASE_URL) against a `crm_bench` database on that throwaway server, created with a
    UTF-8 locale (pg_trgm makes no trigrams for Chinese under LC_CTYPE C)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if os.environ.get("TEST_DATABASE_URL") and not os.environ.get("DATABASE_URL"):
        base = os.environ["TEST_DATABASE_URL"].rsplit("/", 1)[0]
        os.environ["DATABASE_URL"] = f"{base}/{BENCH_DATABASE}"
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE]
            ).fetchone()
            if not exists:
                connection.execute(
                    f"CREATE DATABASE {BENCH_DATABASE} TEMPLATE template0 ENCODING 'UTF8' "
                    "LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'"
                )
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()
