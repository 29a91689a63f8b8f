"""Accounts kept in a Cognito user pool (AUTH=1 with COGNITO_* set), as DECODE's
user API does: `/user` creates the user with its groups, `/token` logs in with
USER_PASSWORD_AUTH (with SECRET_HASH when the app client has a secret)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from shared.api.errors import BadRequest, Conflict, NotFound
from shared.auth.cognito import CognitoChallenge, cognito_password_login


class CognitoAccounts:
    def __init__(
        self, client: Any, user_pool_id: str, client_id: str, client_secret: str | None = None
    ) -> None:
        self._idp, self._pool = client, user_pool_id
        self._client_id, self._secret = client_id, client_secret

    def register(
        self, username: str, password: str, groups: Iterable[str]
    ) -> tuple[str, list[str]]:
        """Create the user (confirmed, with its password) and add it to `groups`."""
        groups = sorted(set(groups))
        try:
            self._idp.admin_create_user(
                UserPoolId=self._pool,
                Username=username,
                MessageAction="SUPPRESS",
                TemporaryPassword=password,
                UserAttributes=[{"Name": "email", "Value": username}] if "@" in username else [],
            )
        except ClientError as exc:
            raise _mapped(exc) from None
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


def _mapped(exc: ClientError) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "UsernameExistsException":
        return Conflict("user already exists")
    if code == "InvalidPasswordException":
        return BadRequest("password does not meet the pool's requirements")
    if code == "NotAuthorizedException":
        return BadRequest("incorrect username or password")
    if code == "UserNotFoundException":
        return NotFound("user not found")
    return BadRequest(f"Cognito refused the request: {code}")
