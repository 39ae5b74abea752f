"""The development realm ``cites`` of the identity provider (Keycloak), as code.

    python deploy/keycloak/realm.py           # writes deploy/keycloak/cites-realm.json
    python deploy/keycloak/realm.py --check   # exits 1 when the committed file is stale

Keycloak imports the JSON at start (``kc.sh start-dev --import-realm``: the native launcher
and docker compose). It is generated, not hand-written, because the préfectures' users —
one per département of ``deploy/local/dev-tokens.json``, which ``make demo`` acts as —
would be a hundred near-identical blocks (the collèges' principals of ``dev-tokens.json``
too: a partner grant naming its ``partner_id``); ``tests/test_keycloak.py`` holds the committed
file to this module.

What the realm holds:

* **realm roles**, the programme's: ``national``, ``prefecture``, ``rectorat``, ``commune``,
  ``partner``, ``viewer``, ``operator`` (the services map them to ``cites_runtime.actor.Role``);
* a **``departement`` attribute** declared in the user profile — editable and viewable by
  administrators only, so a person cannot move herself to another département — and
  mapped into access tokens as the ``departement`` claim; likewise a **``partner_id``
  attribute** (a UUID: the partner a partner's person acts for — a collège's principal,
  her collège), mapped as the ``partner_id`` claim, and an **``insee_code`` attribute** (a
  commune's INSEE code: the commune a ``commune`` user prepares candidatures for), mapped
  as the ``insee_code`` claim. A rectorat's user holds a ``departement`` too: the one
  département of its académie it prepares candidatures in (one per user);
* **clients**: ``cites-api``, the audience every access token for the services names;
  ``cites-dashboard``, the dashboard's page (public, authorization code + PKCE S256, back
  to the dashboard's address); ``cites-cli``, for ``curl``, the simulation and the tests
  (public, password grant: a development realm only; its tokens live 30 minutes);
  ``cites-elsewhere``, a client whose tokens are not for the services (no ``cites-api``
  audience: the tests' wrong audience);
  ``cites-tests-brief``, as ``cites-cli`` but its tokens live 2 seconds (the tests' expiry);
* **development users**, every password :data:`DEV_PASSWORD`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REALM_FILE = HERE / "cites-realm.json"
DEV_TOKENS = REPO / "deploy" / "local" / "dev-tokens.json"

REALM = "cites"
AUDIENCE = "cites-api"
DASHBOARD_CLIENT = "cites-dashboard"
CLI_CLIENT = "cites-cli"
ELSEWHERE_CLIENT = "cites-elsewhere"
BRIEF_CLIENT = "cites-tests-brief"
CLI_TOKEN_LIFESPAN_S = 1800
"""How long a ``cites-cli`` token lives: a walk-through with ``curl`` at a human's pace
(the dashboard's live 5 minutes, renewed by the page)."""
DEV_PASSWORD = "cites-dev"
"""Every development user's password (this realm is never a production one)."""
DASHBOARD_URLS = ("http://127.0.0.1:8005", "http://localhost:8005")
"""Where the dashboard's page is served (``make run``, docker compose): its sign-in comes
back there."""

ROLES = {
    "national": "The national coordination: acts everywhere",
    "prefecture": "A préfecture: acts in its own département (the departement attribute)",
    "rectorat": "A rectorat: reads the programme; prepares candidatures in its département "
                "(the departement attribute)",
    "commune": "A commune: prepares the candidatures naming it (the insee_code attribute)",
    "partner": "A partner of the alliances: acts for its own (the partner_id attribute)",
    "viewer": "Reads the programme",
    "operator": "Runs the platform: /metrics, /docs, /openapi.json, /asyncapi.json",
}

NAMED_USERS: list[tuple[str, str | None, str | None, str, str]] = [
    # username, realm role, département, first name, last name
    ("national", "national", None, "Coordination", "Nationale"),
    ("viewer", "viewer", None, "Lecture", "Seule"),
    ("partner", "partner", None, "Partenaire", "Démo"),
    ("operator", "operator", None, "Exploitation", "Plateforme"),
    ("visitor", None, None, "Visiteur", "Sans Rôle"),  # signs in, holds no programme role
]


def _attribute_mapper(attribute: str) -> dict[str, Any]:
    """The user attribute ``attribute`` as the claim of the same name, in access tokens."""
    return {
        "name": attribute, "protocol": "openid-connect",
        "protocolMapper": "oidc-usermodel-attribute-mapper", "consentRequired": False,
        "config": {"user.attribute": attribute, "claim.name": attribute,
                   "jsonType.label": "String", "multivalued": "false",
                   "access.token.claim": "true", "id.token.claim": "true",
                   "userinfo.token.claim": "true", "introspection.token.claim": "true"},
    }


def _audience_mapper() -> dict[str, Any]:
    return {
        "name": f"audience {AUDIENCE}", "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper", "consentRequired": False,
        "config": {"included.client.audience": AUDIENCE, "access.token.claim": "true",
                   "id.token.claim": "false", "introspection.token.claim": "true"},
    }


def _client(client_id: str, name: str, *, public: bool = True, code: bool = False,
            password: bool = False, audience: bool = True, redirects: tuple[str, ...] = (),
            attributes: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "clientId": client_id, "name": name, "enabled": True, "protocol": "openid-connect",
        "publicClient": public, "standardFlowEnabled": code, "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": password, "serviceAccountsEnabled": False,
        "frontchannelLogout": True, "fullScopeAllowed": True,
        "redirectUris": [f"{url}/*" for url in redirects],
        "webOrigins": ["+"] if redirects else [],
        "attributes": {**(attributes or {})},
        "protocolMappers": ([_audience_mapper()] if audience else [])
        + [_attribute_mapper(a) for a in ("departement", "partner_id", "insee_code")],
    }


def _user(username: str, role: str | None, departement: str | None, first: str, last: str,
          partner_id: str | None = None, insee_code: str | None = None) -> dict[str, Any]:
    attributes = {"departement": [departement]} if departement else {}
    if partner_id:
        attributes["partner_id"] = [partner_id]
    if insee_code:
        attributes["insee_code"] = [insee_code]
    return {
        "username": username, "enabled": True, "emailVerified": True,
        "email": f"{username}@dev.cites-educatives.invalid",
        "firstName": first, "lastName": last,
        "attributes": attributes,
        "credentials": [{"type": "password", "value": DEV_PASSWORD, "temporary": False}],
        "realmRoles": [role] if role else [],
    }


def _user_profile() -> str:
    """Keycloak's default user profile, plus ``departement``, ``partner_id`` and
    ``insee_code`` (administrators only: a person must not choose the département, the
    partner or the commune she acts for). Keycloak drops attributes its
    profile does not declare."""
    edit_all = {"view": ["admin", "user"], "edit": ["admin", "user"]}
    profile = {
        "attributes": [
            {"name": "username", "displayName": "${username}", "permissions": edit_all,
             "validations": {"length": {"min": 3, "max": 255},
                             "username-prohibited-characters": {},
                             "up-username-not-idn-homograph": {}}},
            {"name": "email", "displayName": "${email}", "required": {"roles": ["user"]},
             "permissions": edit_all,
             "validations": {"email": {}, "length": {"max": 255}}},
            {"name": "firstName", "displayName": "${firstName}",
             "required": {"roles": ["user"]}, "permissions": edit_all,
             "validations": {"length": {"max": 255},
                             "person-name-prohibited-characters": {}}},
            {"name": "lastName", "displayName": "${lastName}",
             "required": {"roles": ["user"]}, "permissions": edit_all,
             "validations": {"length": {"max": 255},
                             "person-name-prohibited-characters": {}}},
            {"name": "departement", "displayName": "Département",
             "permissions": {"view": ["admin"], "edit": ["admin"]},
             "validations": {"pattern": {"pattern": "^([0-9]{2}|2[AB]|97[1-6])$",
                                         "error-message": "a département code: 69, 2A, 971"}},
             "annotations": {}},
            {"name": "partner_id", "displayName": "Partenaire (identifiant)",
             "permissions": {"view": ["admin"], "edit": ["admin"]},
             "validations": {"pattern": {"pattern": "^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$",
                                         "error-message": "a partner id (UUID)"}},
             "annotations": {}},
            {"name": "insee_code", "displayName": "Commune (code INSEE)",
             "permissions": {"view": ["admin"], "edit": ["admin"]},
             "validations": {"pattern": {"pattern": "^([0-9]{2}|2[AB])[0-9]{3}$|^97[1-8][0-9]{2}$",
                                         "error-message": "an INSEE commune code: 69256, "
                                                          "2A004, 97611"}},
             "annotations": {}},
        ],
        "groups": [{"name": "user-metadata", "displayHeader": "User metadata",
                    "displayDescription": "Attributes, which refer to user metadata"}],
    }
    return json.dumps(profile, ensure_ascii=False)


def prefecture_departements() -> list[str]:
    """The départements of the development préfectures (``dev-tokens.json``'s)."""
    grants: dict[str, dict[str, str]] = json.loads(DEV_TOKENS.read_text())
    return sorted({g["departement"] for g in grants.values()
                   if g.get("role") == "prefecture" and g.get("departement")})


def college_principals() -> list[tuple[str, str]]:
    """(username, partner id) of the development partners acting for one
    (``dev-tokens.json``'s partner grants naming their ``partner_id``: collèges' principals)."""
    grants: dict[str, dict[str, str]] = json.loads(DEV_TOKENS.read_text())
    return sorted((g["subject"], g["partner_id"]) for g in grants.values()
                  if g.get("role") == "partner" and g.get("partner_id"))


def local_preparers() -> list[dict[str, Any]]:
    """The development rectorat and commune (``dev-tokens.json``'s grants of those roles),
    with the département or the commune they prepare candidatures for."""
    grants: dict[str, dict[str, str]] = json.loads(DEV_TOKENS.read_text())
    return [_user(g["subject"], g["role"], g.get("departement"), g["role"].capitalize(),
                  g.get("departement") or g.get("insee_code") or "", insee_code=g.get("insee_code"))
            for g in grants.values() if g.get("role") in ("rectorat", "commune")]


def realm() -> dict[str, Any]:
    users = [_user(*u) for u in NAMED_USERS] + local_preparers() + [
        _user(f"prefecture-{d}", "prefecture", d, "Préfecture", d)
        for d in prefecture_departements()] + [
        _user(username, "partner", None, "Principal", "Collège", partner_id=partner_id)
        for username, partner_id in college_principals()]
    return {
        "realm": REALM, "enabled": True, "displayName": "Cités éducatives (développement)",
        "sslRequired": "external", "registrationAllowed": False, "loginWithEmailAllowed": True,
        "resetPasswordAllowed": False, "editUsernameAllowed": False,
        "bruteForceProtected": False,
        "accessTokenLifespan": 300,
        # Fast hashing: every user (one préfecture per territory) is imported at every start,
        # and this realm holds only development passwords.
        "passwordPolicy": "hashAlgorithm(pbkdf2-sha256) and hashIterations(1000)",
        "roles": {"realm": [{"name": name, "description": description}
                            for name, description in ROLES.items()]},
        "clients": [
            _client(AUDIENCE, "Cités éducatives APIs: the audience of their access tokens",
                    public=False, audience=False),
            _client(DASHBOARD_CLIENT, "The programme dashboard (its page signs in)",
                    code=True, redirects=DASHBOARD_URLS,
                    attributes={"pkce.code.challenge.method": "S256",
                                "post.logout.redirect.uris": "+"}),
            _client(CLI_CLIENT, "curl, the simulation and the tests (password grant: "
                    "development only)", password=True,
                    attributes={"access.token.lifespan": str(CLI_TOKEN_LIFESPAN_S)}),
            _client(ELSEWHERE_CLIENT, "Tokens for something else than the services (tests)",
                    password=True, audience=False),
            _client(BRIEF_CLIENT, "Tokens that expire at once (tests)", password=True,
                    attributes={"access.token.lifespan": "2"}),
        ],
        "users": users,
        "components": {
            "org.keycloak.userprofile.UserProfileProvider": [{
                "providerId": "declarative-user-profile", "subComponents": {},
                "config": {"kc.user.profile.config": [_user_profile()]},
            }],
        },
    }


def render() -> str:
    return json.dumps(realm(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        if REALM_FILE.read_text() != text:
            print(f"{REALM_FILE} is stale: run python {Path(__file__).relative_to(REPO)}",
                  file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    REALM_FILE.write_text(text)
    print(f"wrote {REALM_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
