"""Channel tokens: PyJWT HS256 under the token key (daemon.channels.keys). Claims: iss "smscore",
sub and chn = the channel reference, dev = the device id, epoch = the channel's key epoch when it
was issued, iat, exp (seconds), jti, and auth_time: when the device last signed a token request
(a refresh keeps it, so a chain of refreshes ends; a token without it counts from its iat). Time is
injected: PyJWT's own clock checks are off and expiry
is checked against `now_ns`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import jwt

from daemon.clock import NS_PER_S

ISSUER = "smscore"
ALGORITHM = "HS256"
_REQUIRED = ("iss", "sub", "chn", "dev", "epoch", "iat", "exp", "jti")


class TokenError(Exception):
    """A channel token that is not accepted (never says more than which kind of refusal)."""


class TokenMalformed(TokenError):
    """Not a JWT, another algorithm, or claims missing or of the wrong type."""


class TokenBadSignature(TokenError):
    """The signature does not verify under the token key (tampered, or another server's)."""


class TokenExpired(TokenError):
    """Past its exp."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    reference: str
    device_id: str
    key_epoch: int
    issued_at_ns: int
    expires_at_ns: int
    jti: str
    granted_at_ns: int  # auth_time: the device-signed request this token descends from


@dataclass(frozen=True, slots=True)
class IssuedToken:
    text: str
    claims: TokenClaims

    def __repr__(self) -> str:  # the token is a bearer secret
        return f"IssuedToken({self.claims.reference} device={self.claims.device_id})"


def issue_token(
    key: bytes,
    *,
    reference: str,
    device_id: str,
    key_epoch: int,
    now_ns: int,
    lifetime_s: float,
    granted_at_ns: int | None = None,
) -> IssuedToken:
    """`granted_at_ns`: the grant a refresh descends from (None: this is a grant, now)."""
    issued_s = now_ns // NS_PER_S
    granted_s = issued_s if granted_at_ns is None else granted_at_ns // NS_PER_S
    expires_s = issued_s + int(lifetime_s)
    jti = secrets.token_hex(12)
    payload = {
        "iss": ISSUER,
        "sub": reference,
        "chn": reference,
        "dev": device_id,
        "epoch": key_epoch,
        "iat": issued_s,
        "exp": expires_s,
        "jti": jti,
        "auth_time": granted_s,
    }
    text = jwt.encode(payload, key, algorithm=ALGORITHM)
    claims = TokenClaims(
        reference,
        device_id,
        key_epoch,
        issued_s * NS_PER_S,
        expires_s * NS_PER_S,
        jti,
        granted_s * NS_PER_S,
    )
    return IssuedToken(text, claims)


def verify_token(key: bytes, text: str, now_ns: int) -> TokenClaims:
    """The claims of a token signed with `key` and not expired at `now_ns`; TokenMalformed,
    TokenBadSignature or TokenExpired."""
    try:
        payload = jwt.decode(
            text,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": list(_REQUIRED), "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False},
        )  # fmt: skip
    except jwt.InvalidSignatureError:
        raise TokenBadSignature("the token's signature does not verify") from None
    except jwt.PyJWTError:
        raise TokenMalformed("not a channel token") from None
    claims = _claims(payload)
    if now_ns >= claims.expires_at_ns:
        raise TokenExpired("the token has expired")
    return claims


def _claims(payload: dict) -> TokenClaims:
    reference, device_id, epoch = payload["chn"], payload["dev"], payload["epoch"]
    issued, expires, jti = payload["iat"], payload["exp"], payload["jti"]
    granted = payload.get("auth_time", issued)
    texts_ok = all(isinstance(v, str) for v in (reference, device_id, jti, payload["sub"]))
    numbers_ok = all(type(v) is int for v in (epoch, issued, expires, granted))
    if not (texts_ok and numbers_ok) or payload["sub"] != reference:
        raise TokenMalformed("the token's claims are not a channel token's")
    return TokenClaims(
        reference, device_id, epoch, issued * NS_PER_S, expires * NS_PER_S, jti, granted * NS_PER_S
    )
