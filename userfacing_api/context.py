"""Everything the user API's requests share, built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from shared.app_config import CatalogueFile
from shared.auth.local import LocalTokens
from shared.auth.tokens import TokenVerifier
from shared.storage.base import Storage
from userfacing_api.settings import UserAPISettings


@dataclass
class AppContext:
    settings: UserAPISettings
    engine: Engine
    sessions: sessionmaker
    storage: Storage
    catalogue: CatalogueFile
    verifier: TokenVerifier
    local_tokens: LocalTokens | None  # set when AUTH=1
