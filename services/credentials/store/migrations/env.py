from services.common.migrations import run_migrations
from services.credentials.store.tables import metadata

run_migrations(metadata)
