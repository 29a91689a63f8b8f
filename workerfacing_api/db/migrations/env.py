from shared.migrations_env import run_migrations
from workerfacing_api.db.models import Base

run_migrations(Base.metadata)
