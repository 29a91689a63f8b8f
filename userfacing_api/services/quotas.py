"""Storage quotas: how many bytes each user may keep, and holding uploads and new jobs to it.

A user's quota is, in this order: the administrator's quota for that user; else the
largest of the administrators' quotas for the user's groups; else STORAGE_QUOTA_BYTES.
Job outputs count toward the usage but are never refused (a finished run is not thrown
away): a job may take its user over quota. A user over quota can still read, download
and delete, but every upload (and presigned upload URL) and every new job gets 507 until
they are back under it. An upload is refused (507) at once when it cannot fit — the
user is over quota, or its Content-Length is more than what is left — and otherwise as
soon as its bytes so far, with every other upload of the user in flight, pass what is
left; nothing of it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.api.errors import BadRequest, NotFound
from shared.api.limits import OverQuota, size_text
from shared.storage.base import Storage, Writer
from userfacing_api.db.models import StorageQuota, User, utcnow
from userfacing_api.schemas import UserQuotaReport
from userfacing_api.services.files import UserFiles
from userfacing_api.services.storage_usage import StorageUsage

Kind = Literal["user", "group"]
SETTING = "STORAGE_QUOTA_BYTES"


# --- the administrators' quotas ------------------------------------------------


def list_quotas(session: Session) -> list[StorageQuota]:
    query = select(StorageQuota).order_by(StorageQuota.kind, StorageQuota.name)
    return list(session.scalars(query))


def set_quota(session: Session, kind: Kind, name: str, quota_bytes: int) -> StorageQuota:
    """Give the user or group `name` a quota of its own (replacing one it had)."""
    row = session.get(StorageQuota, (kind, name))
    if row is None:
        row = StorageQuota(kind=kind, name=name)
        session.add(row)
    row.quota_bytes, row.updated_at = quota_bytes, utcnow()
    session.commit()
    return row


def remove_quota(session: Session, kind: Kind, name: str) -> None:
    """Back to the default; NotFound if the user or group had no quota of its own."""
    gone = session.execute(
        delete(StorageQuota).where(StorageQuota.kind == kind, StorageQuota.name == name)
    ).rowcount
    session.commit()
    if not gone:
        raise NotFound(f"the {kind} '{name}' has no quota of its own")


@dataclass(frozen=True)
class Quota:
    bytes: int
    source: str  # "user", "group <name>" or "default": where it comes from


def effective_quota(session: Session, user_id: str, groups: Iterable[str], default: int) -> Quota:
    """The quota of `user_id`, a member of `groups` (see the module's docstring)."""
    groups = sorted(set(groups))
    rows = session.scalars(
        select(StorageQuota).where(
            ((StorageQuota.kind == "user") & (StorageQuota.name == user_id))
            | ((StorageQuota.kind == "group") & StorageQuota.name.in_(groups))
        )
    ).all()
    mine = [r for r in rows if r.kind == "user"]
    if mine:
        return Quota(mine[0].quota_bytes, "user")
    if rows:
        best = max(rows, key=lambda r: r.quota_bytes)
        return Quota(best.quota_bytes, f"group {best.name}")
    return Quota(default, "default")


def account_groups(session: Session, user_id: str) -> list[str] | None:
    """The groups of a local account (AUTH=1), or None if there is no such account here
    (with Cognito, groups are known only from a user's own token)."""
    account = session.get(User, user_id)
    return list(account.groups or []) if account is not None else None


def user_report(
    session: Session, usage: StorageUsage, storage: Storage, username: str, default: int
) -> UserQuotaReport:
    """A user's quota, where it comes from, and their usage, for an administrator."""
    try:
        root = UserFiles(storage, username).root
    except ValueError:
        raise BadRequest(f"'{username}' is not a user id that can own files") from None
    groups = account_groups(session, username)
    quota = effective_quota(session, username, groups or [], default)
    return UserQuotaReport(
        username=username,
        quota_bytes=quota.bytes,
        source=quota.source,
        groups=groups,
        used_bytes=usage.used(root),
    )


# --- holding one user to their quota ------------------------------------------


@dataclass
class UserStorage:
    """One user's usage against their quota, for one request."""

    usage: StorageUsage
    root: str  # the user's folder (their id)
    quota: Quota

    def used(self) -> int:
        """Bytes stored and in flight (may measure the folder: not on the event loop)."""
        return self.usage.used(self.root)

    def _over(self, used: int) -> OverQuota:
        return OverQuota(
            f"your storage is full: {size_text(used)} used of your quota of "
            f"{size_text(self.quota.bytes)}; delete files to make room",
            SETTING,
        )

    def check_room(self) -> None:
        """OverQuota if the user is at or over their quota (new jobs, upload URLs)."""
        used = self.used()
        if used >= self.quota.bytes:
            raise self._over(used)

    def start_upload(self, announced_bytes: int | None = None) -> Upload:
        """An upload about to stream in, of at least `announced_bytes` (from its
        Content-Length, less the form's overhead); OverQuota at once if it cannot fit."""
        used = self.used()
        if used >= self.quota.bytes or used + (announced_bytes or 0) > self.quota.bytes:
            raise OverQuota(
                f"no room for this upload: {size_text(used)} used of your quota of "
                f"{size_text(self.quota.bytes)}"
                + (f", and the upload is {size_text(announced_bytes)}" if announced_bytes else ""),
                SETTING,
            )
        return Upload(self)


@dataclass
class Upload:
    """An upload in flight (a `shared.api.uploads.UploadBudget`): its bytes count toward
    the user's usage as they arrive; `close` when it has ended, committed or not."""

    storage: UserStorage
    received: int = 0
    replaced: int = 0  # the size of the file it replaces
    stored: int | None = None  # its size, once committed
    _closed: bool = field(default=False, repr=False)

    def take(self, size: int) -> None:
        s = self.storage
        # the file it replaces goes when it is committed: that room is the upload's
        total = s.usage.add_in_flight(s.root, size, s.quota.bytes + self.replaced)
        if total is not None:
            raise OverQuota(
                "the upload does not fit: it would take your storage to "
                f"{size_text(total - self.replaced)}, over your quota of "
                f"{size_text(s.quota.bytes)}",
                SETTING,
            )
        self.received += size

    def open(
        self, files: UserFiles, f_type: str, raw_dir: str, filename: str
    ) -> tuple[str, Writer]:
        """`files.start_upload`, noting the size of the file the upload will replace."""
        rel, writer = files.start_upload(f_type, raw_dir, filename)
        existing = files.stat(rel)
        self.replaced = existing.size if existing is not None and not existing.is_dir else 0
        return rel, writer

    def committed(self, size: int) -> None:
        self.stored = size

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            delta = None if self.stored is None else self.stored - self.replaced
            self.storage.usage.end_in_flight(self.storage.root, self.received, delta)
