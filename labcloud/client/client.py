"""`Client`: one labcloud server, logged in, with its `files` and `jobs`."""

from __future__ import annotations

import os
from typing import Any

import httpx

from labcloud.client.auth import cognito_login, login_method, token_expiry, token_login
from labcloud.client.config import ENV_TOKEN, CredentialStore, Session, resolve_url
from labcloud.client.files import Files
from labcloud.client.http import Connection
from labcloud.client.jobs import Jobs


class Client:
    """A labcloud server.

    >>> lc = Client("http://127.0.0.1:8000")
    >>> lc.login("ada@example.org", "analysis-42")
    >>> lc.files.upload("exp1", "data")
    >>> job = lc.jobs.submit("demo", "v1", "run", data=["exp1/"])
    >>> lc.jobs.wait(job, callback=lambda j: print(j.status))
    >>> lc.jobs.download(job, "results")

    `url` defaults to `$LABCLOUD_URL`, then the server of your last `labcloud login`,
    then `http://127.0.0.1:8000`. The token is `token`, else `$LABCLOUD_TOKEN`, else
    the session `labcloud login` stored for that server (unless `use_stored=False`).
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        use_stored: bool = True,
        store: CredentialStore | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: bool = True,
    ) -> None:
        self.store = store or CredentialStore()
        self.url = resolve_url(url, self.store)
        token = token or os.environ.get(ENV_TOKEN)
        session: Session | None
        if token:
            session = Session(self.url, token, expires_at=token_expiry(token), method="token")
        else:
            session = self.store.get(self.url) if use_stored else None
        self._conn = Connection(
            self.url, session, timeout=timeout, transport=transport, verify=verify
        )
        self.files = Files(self._conn)
        self.jobs = Jobs(self._conn, self.files)

    # --- session ----------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The current login (token, user name, expiry), if any."""
        return self._conn.session

    def access_info(self) -> dict[str, Any]:
        """How the server takes logins (`GET /access_info`)."""
        return dict(self._conn.json("GET", "/access_info", auth=False))

    def login(
        self,
        username: str,
        password: str,
        *,
        method: str = "auto",
        save: bool = False,
        relogin: bool = True,
        cognito_client_secret: str | None = None,
        cognito_endpoint_url: str | None = None,
    ) -> Session:
        """Log in with a password and use the session from now on.

        `method`: `local` (the server's `/token`, which also fronts Cognito accounts
        when the server is set up so), `cognito` (straight to the Cognito pool the
        server names, needs boto3), or `auto` (whichever the server offers).
        `save`: store the session like `labcloud login` does (file mode 0600).
        `relogin`: keep the password in memory and log in again when the token
        runs out (for long waits). AuthError if the login is refused.
        """
        info = self.access_info()
        chosen = login_method(info) if method == "auto" else method

        def do_login() -> Session:
            if chosen == "cognito":
                return cognito_login(
                    self.url,
                    info.get("cognito") or {},
                    username,
                    password,
                    client_secret=cognito_client_secret,
                    endpoint_url=cognito_endpoint_url,
                )
            return token_login(self._conn, username, password)

        session = self._conn.session = do_login()
        self._conn.relogin = do_login if relogin else None
        if save:
            self.store.save(session)
        return session

    def use_token(self, token: str, *, save: bool = False) -> Session:
        """Use a ready-made ID token (from a browser session, a CI secret, ...)."""
        session = Session(self.url, token, expires_at=token_expiry(token), method="token")
        self._conn.session, self._conn.relogin = session, None
        if save:
            self.store.save(session)
        return session

    def logout(self, *, forget: bool = True) -> bool:
        """Drop the session (and, with `forget`, the stored one); whether one was stored."""
        self._conn.session, self._conn.relogin = None, None
        return self.store.remove(self.url) if forget else False

    def whoami(self) -> dict[str, Any]:
        """Your account as the server sees it: `{"email", "groups"}`."""
        return dict(self._conn.json("GET", "/user"))

    # --- lifetime ---------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
