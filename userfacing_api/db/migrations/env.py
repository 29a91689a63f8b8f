from shared.migrations_env import run_migrations
from userfacing_api.db.models import Base

run_migrations(Base.metadata)
