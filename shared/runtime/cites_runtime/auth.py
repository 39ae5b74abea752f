"""Who calls: a request's bearer token made into an :class:`~cites_runtime.actor.Actor`,
and the role checks of the services' HTTP APIs — the one door every route goes through
(:func:`require`).

Two ways to authenticate, by ``auth_mode``:

- **oidc** (the default, and the only one production accepts): the token is an access
  token (JWT) of the identity provider ``oidc_issuer`` (Keycloak here, ProConnect or any
  OpenID Connect provider elsewhere). :class:`TokenVerifier` checks, with PyJWT, its
  signature (RS256 only, by a key the provider publishes: :class:`SigningKeys`), its issuer,
  its audience (``oidc_audience``) and its expiry (``oidc_leeway_s`` of clock skew). Its
  claims make the identity: the programme roles at ``oidc_roles_claim``, the département
  at ``oidc_departement_claim`` (a préfecture's, a rectorat's), the partner a partner's
  person acts for at ``oidc_partner_claim`` (a UUID; anything else names none), a
  commune's INSEE code at ``oidc_commune_claim`` (5 characters of a known département;
  anything else names none: the commune acts for nobody), the person as
  ``preferred_username`` (else ``sub``), which is what audit trails keep.
- **static** (development and tests): ``<SERVICE>_TOKENS`` maps tokens to grants (a grant
  no token may hold — an unknown role, ``system``, a préfecture without its département —
  stops the service at start-up).

A missing, malformed, unknown, expired, tampered token, or one of another issuer or
audience, is a 401 saying which; a valid token holding none of the roles a route allows
is a 403 naming the roles that are. The identity provider unreachable while a key must be
fetched is a 503 (retry). The scheme is FastAPI's :class:`~fastapi.security.HTTPBearer`,
so every service's OpenAPI document declares it; the messages are ours.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .actor import Actor, Role, commune_actor, commune_code
from .logs import get_logger
from .settings import ServiceSettings

__all__ = ["BEARER", "Identity", "SigningKeys", "TokenVerifier", "authenticate", "require"]

log = get_logger(__name__)

BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="An access token of the identity provider (OpenID Connect; "
                                "in development and tests, a token of <SERVICE>_TOKENS). Its "
                                "roles: national, prefecture + département, rectorat "
                                "(+ département), commune (+ insee_code), partner "
                                "(+ partner_id), viewer, operator.")

ALGORITHMS = ["RS256"]
"""The only signature accepted: the provider's RSA keys. ``none`` and the HMAC algorithms
(whose "key" an attacker could take from the public JWKS) are refused before anything."""

GRANTED = frozenset(r for r in Role if r is not Role.SYSTEM)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail,
                         headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a valid token designates: the person (or static token), the programme roles
    it holds, its département, the partner it acts for."""

    subject: str
    roles: frozenset[Role]
    departement: str | None = None
    unusable: str | None = None
    """Why a role the token names cannot be used (a préfecture without département)."""
    partner_id: UUID | None = None
    """For a partner's person: the partner she acts for."""
    insee_code: str | None = None
    """For a commune: its INSEE code (valid, else none)."""

    def acting_as(self, allowed: Iterable[Role]) -> Actor | None:
        """The actor for a route allowing ``allowed`` (the first of them the token holds,
        in the route's order), or None when it holds none. Each role carries only its own
        place: a département for a préfecture or a rectorat, a partner for a partner, a
        commune (and its département) for a commune."""
        for role in allowed:
            if role not in self.roles:
                continue
            if role is Role.COMMUNE:
                return commune_actor(self.subject, self.insee_code)
            return Actor(role=role, subject=self.subject,
                         departement=self.departement if role in (Role.PREFECTURE,
                                                                  Role.RECTORAT) else None,
                         partner_id=self.partner_id if role is Role.PARTNER else None)
        return None


class ProviderUnavailable(Exception):
    """The identity provider's keys (or discovery document) could not be fetched."""


class SigningKeys:
    """The identity provider's signing keys, by key id.

    Fetched with PyJWT's :class:`jwt.PyJWKClient` (the discovery document first when no
    JWKS URL is given) in a worker thread, since its fetch blocks; kept for ``lifespan``
    seconds; fetched again at once for a key id not known — a key rotation. Fetches are
    tried at most once every ``min_refresh_s``, so tokens naming made-up key ids cannot
    make every request a fetch, nor can a provider that is down. While it is down, the
    keys already fetched still verify (a known key does not stop being the provider's);
    a key never fetched cannot be checked (:class:`ProviderUnavailable`). PyJWKClient's
    own cache is not used: it would fetch again on every unknown key id."""

    def __init__(self, issuer: str | None, jwks_url: str | None = None, *,
                 lifespan: float = 300.0, min_refresh_s: float = 10.0,
                 timeout: float = 5.0) -> None:
        if issuer is None and jwks_url is None:
            raise ValueError("an issuer or a JWKS URL is needed")
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.lifespan = lifespan
        self.min_refresh_s = min_refresh_s
        self.timeout = timeout
        self.fetches = 0
        """How many fetches were tried (for tests and logs)."""
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._failure: ProviderUnavailable | None = None
        self._lock = asyncio.Lock()
        self._discovered: str | None = None

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key ``kid`` names, fetched if needed; None when the provider does not
        publish it. Raises :class:`ProviderUnavailable` when it cannot be known."""
        if (found := self._keys.get(kid)) is not None and self._fresh():
            return found
        async with self._lock:
            known = self._keys.get(kid)
            if known is not None and self._fresh():
                return known
            now = time.monotonic()
            if self._tried_at is None or now - self._tried_at >= self.min_refresh_s:
                self._tried_at, self.fetches = now, self.fetches + 1
                try:
                    keys = await asyncio.to_thread(self._fetch)
                except ProviderUnavailable as exc:
                    self._failure = exc
                else:
                    self._keys = {k.key_id: k for k in keys if k.key_id}
                    self._fetched_at, self._failure = time.monotonic(), None
            if kid in self._keys:
                return self._keys[kid]
            if self._failure is not None:
                raise self._failure
            return None

    def _fresh(self) -> bool:
        return self._fetched_at is not None and \
            time.monotonic() - self._fetched_at < self.lifespan

    def _jwks_url(self) -> str:
        if self.jwks_url is not None:
            return self.jwks_url
        if self._discovered is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    document = json.loads(response.read())
            except (OSError, ValueError) as exc:
                raise ProviderUnavailable(f"discovery at {url}: {exc!r}") from exc
            named = document.get("issuer") if isinstance(document, dict) else None
            if named != self.issuer:
                raise ProviderUnavailable(f"discovery at {url} names another issuer "
                                          f"({named!r})")
            jwks = document.get("jwks_uri")
            if not isinstance(jwks, str):
                raise ProviderUnavailable(f"discovery at {url} names no jwks_uri")
            self._discovered = jwks
        return self._discovered

    def _fetch(self) -> list[jwt.PyJWK]:
        url = self._jwks_url()
        client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False,
                                 timeout=int(max(self.timeout, 1)))
        try:
            keys: list[jwt.PyJWK] = client.get_signing_keys(refresh=True)
        except jwt.PyJWKClientError as exc:
            raise ProviderUnavailable(f"signing keys at {url}: {exc}") from exc
        log.info("identity provider's signing keys fetched", url=url,
                 kids=[k.key_id for k in keys])
        return keys


class TokenVerifier:
    """Access tokens of the identity provider → :class:`Identity` (``auth_mode`` oidc)."""

    def __init__(self, settings: ServiceSettings, keys: SigningKeys | None = None) -> None:
        if settings.oidc_issuer is None:
            raise ValueError("no oidc_issuer")
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.leeway = settings.oidc_leeway_s
        self.roles_claim = settings.oidc_roles_claim.split(".")
        self.departement_claim = settings.oidc_departement_claim
        self.partner_claim = settings.oidc_partner_claim
        self.commune_claim = settings.oidc_commune_claim
        self.keys = keys or SigningKeys(settings.oidc_issuer, settings.oidc_jwks_url)

    async def identity(self, token: str) -> Identity:
        """The identity ``token`` designates; an :class:`HTTPException` 401 saying what is
        wrong with it, or 503 when the provider's keys cannot be had."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _unauthorized("the bearer token is not a JWT access token of the "
                                "identity provider") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise _unauthorized(f"token signed with {algorithm!r}: only "
                                f"{', '.join(ALGORITHMS)} signatures of the identity "
                                "provider are accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _unauthorized("token names no signing key (kid)")
        try:
            key = await self.keys.key(kid)
        except ProviderUnavailable as exc:
            log.warning("identity provider unavailable", error=str(exc), kid=kid)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                detail="the identity provider cannot be reached to check the "
                                       "token: retry in a moment",
                                headers={"Retry-After": "5"}) from None
        if key is None:
            raise _unauthorized("token signed by a key the identity provider does not "
                                "publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key.key, algorithms=ALGORITHMS, audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise _unauthorized("token expired: sign in again") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized(f"token is not for this service: its audience must name "
                                f"{self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise _unauthorized(f"token issued by another identity provider: this service "
                                f"accepts {self.issuer}'s") from None
        except jwt.InvalidSignatureError:
            raise _unauthorized("token signature does not verify (altered?)") from None
        except jwt.MissingRequiredClaimError as exc:
            if exc.claim == "aud":
                raise _unauthorized(f"token is not for this service: its audience must name "
                                    f"{self.audience!r}") from None
            raise _unauthorized(f"token lacks the {exc.claim!r} claim") from None
        except jwt.ImmatureSignatureError:
            raise _unauthorized("token not valid yet (issued in the future?)") from None
        except jwt.InvalidTokenError as exc:
            raise _unauthorized(f"token refused: {exc}") from None
        return self._identity(claims)

    def _identity(self, claims: dict[str, Any]) -> Identity:
        subject = claims.get("preferred_username") or claims.get("sub")
        found: Any = claims
        for part in self.roles_claim:
            found = found.get(part) if isinstance(found, dict) else None
        names = found if isinstance(found, list) else []
        roles = {Role(n) for n in names if isinstance(n, str) and n in GRANTED}
        departement = claims.get(self.departement_claim)
        departement = departement.strip() if isinstance(departement, str) else None
        unusable = None
        if Role.PREFECTURE in roles and not departement:
            roles.discard(Role.PREFECTURE)
            unusable = (f"the role prefecture needs a département (the "
                        f"{self.departement_claim!r} claim), and this token has none")
        return Identity(str(subject), frozenset(roles), departement or None, unusable,
                        _uuid(claims.get(self.partner_claim)),
                        commune_code(claims.get(self.commune_claim)))


def _uuid(claim: Any) -> UUID | None:
    """A partner id claim: a UUID's text, else none (the person acts for no partner)."""
    try:
        return UUID(claim.strip()) if isinstance(claim, str) else None
    except ValueError:
        return None


def _static_identity(settings: ServiceSettings, token: str) -> Identity:
    grant = settings.tokens.get(token)
    if grant is None:
        raise _unauthorized("unknown or revoked bearer token")
    # Settings refuse such a grant at start-up; settings built without validation
    # (model_construct) still never grant more than they say.
    if grant.refusal() is not None:
        raise _unauthorized("this token's grant is not valid: ask for a new token")
    return Identity(grant.subject, frozenset({Role(grant.role)}), grant.departement,
                    partner_id=grant.partner_id, insee_code=commune_code(grant.insee_code))


def verifier(request: Request) -> TokenVerifier:
    """The app's token verifier (made at its first request: one key cache per app)."""
    state = request.app.state
    found: TokenVerifier | None = getattr(state, "token_verifier", None)
    if found is None:
        found = state.token_verifier = TokenVerifier(state.settings)
    return found


async def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None
                       ) -> Identity:
    """The identity a request's bearer token designates (401 when there is none or it is
    not valid; see the module)."""
    if credentials is None:
        if not request.headers.get("authorization"):
            raise _unauthorized("missing Authorization header: send 'Authorization: Bearer "
                                "<token>'")
        raise _unauthorized("Authorization must be 'Bearer <token>'")
    settings: ServiceSettings = request.app.state.settings
    token = credentials.credentials.strip()
    if settings.auth_mode == "static":
        return _static_identity(settings, token)
    return await verifier(request).identity(token)


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Actor]]:
    """FastAPI dependency: the authenticated actor, holding one of ``roles`` (else 403).
    A token holding several roles acts in the first of ``roles`` it holds."""
    allowed = ", ".join(r.value for r in roles)

    async def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None
                         = Depends(BEARER)) -> Actor:
        identity = await authenticate(request, credentials)
        actor = identity.acting_as(roles)
        if actor is None:
            held = ", ".join(sorted(r.value for r in identity.roles))
            if not identity.roles:
                said = ("this token holds no role of the programme"
                        + (f" ({identity.unusable})" if identity.unusable else ""))
            elif len(identity.roles) == 1:
                said = f"role '{held}' may not do this"
            else:
                said = f"roles '{held}' may not do this"
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"{said}; allowed: {allowed}")
        return actor

    return dependency
