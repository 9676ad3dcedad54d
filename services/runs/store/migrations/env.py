from services.common.migrations import run_migrations
from services.runs.store.tables import metadata

run_migrations(metadata)
