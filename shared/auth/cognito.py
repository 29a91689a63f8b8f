"""Cognito ID tokens (RS256), verified against the user pool's published keys (JWKS).

The keys are fetched once and cached by PyJWT's client; an unknown key id makes
it fetch again (Cognito rotates keys rarely).
"""

from __future__ import annotations

import jwt

from shared.auth.tokens import InvalidToken, Principal, principal_from_claims


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class CognitoVerifier:
    def __init__(
        self, region: str, user_pool_id: str, client_id: str, jwks_url: str | None = None
    ) -> None:
        self.issuer = cognito_issuer(region, user_pool_id)
        self.client_id = client_id
        self._jwks = jwt.PyJWKClient(
            jwks_url or f"{self.issuer}/.well-known/jwks.json",
            cache_keys=True,
            lifespan=3600,
            timeout=10,
        )

    def verify(self, token: str) -> Principal:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=5,
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise InvalidToken(str(exc)) from exc
        if claims.get("token_use") != "id":
            raise InvalidToken("not an ID token")
        return principal_from_claims(claims)
