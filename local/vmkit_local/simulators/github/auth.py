"""Who is calling the simulated GitHub: the App (JWT), an installation, a user, or nobody.

The App signs RS256 JWTs with its private key (githubkit's `AppAuthStrategy` does);
installation tokens (`ghs_`, one hour) come from `POST
/app/installations/{id}/access_tokens`; user tokens (`ghu_`) from the OAuth web flow.
Only hashes of issued tokens are kept.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ..clock import utc_now
from .errors import GitHubError, not_accessible_by_integration, requires_authentication

_ALPHANUMERIC = string.ascii_letters + string.digits
MAX_JWT_LIFETIME = 600
CLOCK_DRIFT = 60


@dataclass(frozen=True)
class Principal:
    kind: str
    """app, installation, user or anonymous."""
    login: str | None = None
    """The acting account: the user, or the App's bot for the App and installations."""
    installation_id: int | None = None
    repositories: tuple[str, ...] | None = None
    """For an installation token limited to some repositories: their full names."""


ANONYMOUS = Principal("anonymous")


def require_app(principal: Principal) -> None:
    """The endpoint takes the App's JWT, as `/app/...` endpoints do."""
    if principal.kind == "anonymous":
        raise requires_authentication()
    if principal.kind != "app":
        raise GitHubError(401, "A JSON web token could not be decoded")


def require_user(principal: Principal) -> None:
    """The endpoint takes a user's token, as `/user/...` endpoints do."""
    if principal.kind == "anonymous":
        raise requires_authentication()
    if principal.kind != "user":
        raise not_accessible_by_integration()


def require_installation(principal: Principal) -> None:
    if principal.kind != "installation":
        raise GitHubError(403, "This endpoint can only be accessed with an installation token")


def new_token(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(36))


def load_or_create_app_key(path: Path | None, pem: str | None) -> str:
    """The App's private key PEM: given, kept in the data dir, or freshly generated."""
    if pem is None and path is not None and path.exists():
        pem = path.read_text()
    if pem is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(pem)
    return pem


def public_key_of(pem: str) -> RSAPublicKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the GitHub App key must be an RSA private key")
    return key.public_key()


def verify_app_jwt(token: str, public_key: RSAPublicKey, issuers: set[str]) -> None:
    """Check an App JWT as GitHub does; raise its 401 answers otherwise."""
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            options={"require": ["iat", "exp", "iss"], "verify_iss": False},
            leeway=CLOCK_DRIFT,
        )
    except jwt.ExpiredSignatureError:
        raise _jwt_error(
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires"
        ) from None
    except jwt.ImmatureSignatureError:
        raise _jwt_error(
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued"
        ) from None
    except jwt.PyJWTError:
        raise _jwt_error("A JSON web token could not be decoded") from None
    if claims["exp"] - utc_now().timestamp() > MAX_JWT_LIFETIME + CLOCK_DRIFT:
        raise _jwt_error("'Expiration time' claim ('exp') is too far in the future")
    if str(claims["iss"]) not in issuers:
        raise _jwt_error("'Issuer' claim ('iss') must be an Integer")


def _jwt_error(message: str) -> GitHubError:
    return GitHubError(401, message)
