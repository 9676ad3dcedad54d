from services.common.migrations import run_migrations
from services.registry.store.tables import metadata

run_migrations(metadata)
