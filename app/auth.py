"""Bearer tokens: a service token (internal callers, any organisation) or a user's JWT (one org)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Query, Request

from app.config import JWTSettings
from app.errors import BadRequest, Forbidden, NotFound, Unauthorized
from app.providers.base import constant_time_equal

log = logging.getLogger("landed.auth")

HMAC_ALGORITHMS = ["HS256"]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it at the door (422)
PUBLIC_KEY_ALGORITHMS = ["RS256", "ES256"]
VERIFIED_TOKEN_CACHE_SIZE = 4096
EXP_CACHE_CEILING = 4_102_444_800  # 2100-01-01


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: str | None  # None for a service caller, which may act for any organisation
    subject: str | None = None

    @property
    def is_service(self) -> bool:
        return self.org_id is None


class TokenVerifier:
    def __init__(self, service_tokens: list[str], jwt_settings: JWTSettings) -> None:
        self._service_tokens = service_tokens
        self._jwt = jwt_settings
        self._secret = jwt_settings.secret.get_secret_value() if jwt_settings.secret else None
        self._public_key = (
            jwt_settings.public_key.get_secret_value() if jwt_settings.public_key else None
        )
        self._verified: dict[str, tuple[Principal, float]] = {}

    def authenticate(self, token: str) -> Principal:
        # Compare against every token so timing does not reveal which one nearly matched.
        matched = False
        for candidate in self._service_tokens:
            matched |= constant_time_equal(candidate, token)
        if matched:
            return Principal(org_id=None, subject="service")
        # The SPA sends the same token on every call: a verified token is remembered until
        # it expires (decoding it again was a few percent of a history read, profiled).
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time() - self._jwt.leeway_seconds:
            return cached[0]
        principal, expires_at = self._decode_jwt(token)
        if len(self._verified) >= VERIFIED_TOKEN_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = (principal, expires_at)
        return principal

    def _decode_jwt(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The bearer token is not valid.") from None
        alg = header.get("alg")
        if alg in HMAC_ALGORITHMS and self._secret:
            key, algorithms = self._secret, HMAC_ALGORITHMS
        elif alg in PUBLIC_KEY_ALGORITHMS and self._public_key:
            key, algorithms = self._public_key, PUBLIC_KEY_ALGORITHMS
        else:
            raise Unauthorized("The bearer token is not valid.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._jwt.audience,
                issuer=self._jwt.issuer,
                leeway=self._jwt.leeway_seconds,
                options={"require": ["exp", "org_id"], "verify_aud": bool(self._jwt.audience)},
            )
        except jwt.PyJWTError as exc:
            log.info("auth.jwt_rejected", extra={"why": type(exc).__name__})
            raise Unauthorized("The bearer token is not valid.") from None
        org_id = claims.get("org_id")
        if not isinstance(org_id, str) or not org_id or "\x00" in org_id:
            raise Unauthorized("The bearer token has no organisation.")
        sub = claims.get("sub")
        principal = Principal(org_id=org_id, subject=sub if isinstance(sub, str) else None)
        # PyJWT accepts any number; remember it no longer than the year 2100 (a float-safe bound).
        return principal, float(min(claims["exp"], EXP_CACHE_CEILING))


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return request.app.state.token_verifier.authenticate(token.strip())


PrincipalDep = Annotated[Principal, Depends(authenticate)]


async def require_service(principal: PrincipalDep) -> Principal:
    if not principal.is_service:
        raise Forbidden("This route is for internal services (service token).")
    return principal


ServiceCaller = Annotated[Principal, Depends(require_service)]


async def org_scope(
    principal: PrincipalDep,
    org_id: Annotated[
        str | None,
        Query(
            description="Required with a service token; with a user token it must be "
            "the token's organisation if given.",
            max_length=200,
            pattern=NO_NUL,
        ),
    ] = None,
) -> str:
    """The organisation whose data the caller may read."""
    if principal.is_service:
        if not org_id:
            raise BadRequest("org_id is required with a service token.")
        return org_id
    if org_id is not None and org_id != principal.org_id:
        raise NotFound()
    assert principal.org_id is not None
    return principal.org_id


OrgScope = Annotated[str, Depends(org_scope)]
