"""Accounts kept in a Cognito user pool (AUTH=1 with COGNITO_* set), as DECODE's
user API does: `/user` creates the user with its groups, `/token` logs in with
USER_PASSWORD_AUTH (with SECRET_HASH when the app client has a secret). Closing,
disabling and enabling an account also delete, disable and enable it in the pool;
the account book records each account with its `sub`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from shared.api.errors import BadRequest, Conflict
from shared.auth.cognito import CognitoChallenge, cognito_password_login
from userfacing_api.services import account_book
from userfacing_api.services.accounts import WRONG_LOGIN


class CognitoAccounts:
    def __init__(
        self,
        client: Any,
        user_pool_id: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        sessions: Any,
    ) -> None:
        self._idp, self._pool = client, user_pool_id
        self._client_id, self._secret = client_id, client_secret
        self._sessions = sessions

    def register(
        self, username: str, password: str, groups: Iterable[str]
    ) -> tuple[str, list[str]]:
        """Create the user (confirmed, with its password) and add it to `groups`."""
        groups = sorted(set(groups))
        try:
            created = self._idp.admin_create_user(
                UserPoolId=self._pool,
                Username=username,
                MessageAction="SUPPRESS",
                TemporaryPassword=password,
                UserAttributes=[{"Name": "email", "Value": username}] if "@" in username else [],
            )
        except ClientError as exc:
            raise _mapped(exc) from None
        attributes = {a["Name"]: a["Value"] for a in created["User"].get("Attributes", [])}
        try:
            for group in groups:
                self._idp.admin_add_user_to_group(
                    UserPoolId=self._pool, Username=username, GroupName=group
                )
            self._idp.admin_set_user_password(
                UserPoolId=self._pool, Username=username, Password=password, Permanent=True
            )
        except ClientError as exc:
            # e.g. a password the pool's policy refuses: leave no half-made account behind.
            self._idp.admin_delete_user(UserPoolId=self._pool, Username=username)
            raise _mapped(exc) from None
        with self._sessions() as session:
            try:
                account_book.open_account(
                    session,
                    username,
                    subject=attributes.get("sub"),
                    groups=groups,
                    email=attributes.get("email"),
                    password_hash=None,
                )
            except Conflict:
                # The pool let the name be created, so labcloud's account of that name is
                # stale (made outside labcloud): leave the new user no way in.
                self._idp.admin_delete_user(UserPoolId=self._pool, Username=username)
                raise Conflict(
                    "labcloud still has an account of this name: an administrator must "
                    "delete it first (labcloud admin users delete)"
                ) from None
        return username, groups

    def token(self, username: str, password: str) -> tuple[str, int]:
        """An ID token and its lifetime in seconds."""
        try:
            return cognito_password_login(
                self._idp, self._client_id, username, password, self._secret
            )
        except ClientError as exc:
            raise _mapped(exc) from None
        except CognitoChallenge as exc:
            raise BadRequest(str(exc)) from None

    def remove(self, username: str) -> None:
        try:
            self._idp.admin_delete_user(UserPoolId=self._pool, Username=username)
        except ClientError as exc:
            if _code(exc) != "UserNotFoundException":
                raise _mapped(exc) from None

    def set_enabled(self, username: str, enabled: bool) -> None:
        call = self._idp.admin_enable_user if enabled else self._idp.admin_disable_user
        try:
            call(UserPoolId=self._pool, Username=username)
        except ClientError as exc:
            if _code(exc) != "UserNotFoundException":  # labcloud's record is what counts
                raise _mapped(exc) from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _mapped(exc: ClientError) -> Exception:
    code = _code(exc)
    if code == "UsernameExistsException":
        return Conflict("user already exists")
    if code == "InvalidPasswordException":
        return BadRequest("password does not meet the pool's requirements")
    if code in ("NotAuthorizedException", "UserNotFoundException"):
        # The same answer whether the name exists (or is disabled) or not: Cognito tells
        # them apart, before it checks the password.
        return BadRequest(WRONG_LOGIN)
    return BadRequest(f"Cognito refused the request: {code}")
