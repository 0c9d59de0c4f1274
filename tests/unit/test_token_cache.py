"""The verifier remembers a verified token (services/common/trust/tokens.py) so a clerk's calls
skip the signature check after the first — and still refuses, cached or not, everything
architecture invariant 8 refuses: an expired token at its `exp`, a token of another region or
audience, a token whose key was retired."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.events import Actor
from services.common.trust import tokens
from services.common.trust.tokens import (
    ALGORITHM,
    DEFAULT_LEEWAY,
    IdentityProvider,
    TokenRefused,
    TokenVerifier,
    issuer_for,
)

NOW = 1_790_000_000.0  # a fixed instant: no test depends on today's date
NINGXIA, SICHUAN = "640000", "510000"
CLERK = Actor(kind="clerk", clerk_id="c-07", office_code="640104-MRO-01", region=NINGXIA, role="registrar")


class Clock:
    def __init__(self, at: float = NOW) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def _idp(region: str = NINGXIA) -> IdentityProvider:
    return IdentityProvider(region=region, signing_key=Ed25519PrivateKey.generate(), now=lambda: NOW)


def _refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenRefused) as refused:
        verifier.verify(token)
    return str(refused.value)


def test_a_cached_token_is_not_checked_for_its_signature_again(monkeypatch: pytest.MonkeyPatch) -> None:
    idp = _idp()
    verifier = TokenVerifier(idp.trusted_keys(), now=Clock())
    token = idp.issue_for(CLERK)
    signature_checks = 0
    decode = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal signature_checks
        signature_checks += 1
        return decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tokens.jwt, "decode", counting)
    first = verifier.verify(token)
    assert [verifier.verify(token) for _ in range(3)] == [first] * 3
    assert signature_checks == 1


def test_an_expired_token_is_refused_at_its_exp_though_cached_invariant_8() -> None:
    idp = _idp()
    clock = Clock()
    verifier = TokenVerifier(idp.trusted_keys(), now=clock)
    token = idp.issue_for(CLERK)
    claims = verifier.verify(token)
    clock.at = claims.expires_at + DEFAULT_LEEWAY.total_seconds() - 1
    assert verifier.verify(token) == claims, "still within its lifetime (and the leeway)"
    clock.at = claims.expires_at + DEFAULT_LEEWAY.total_seconds()
    assert "token expired" in _refusal(verifier, token)
    assert "token expired" in _refusal(verifier, token), "and on every later call"


def test_a_token_of_another_region_is_refused_beside_a_cached_one_invariant_8() -> None:
    ningxia, sichuan = _idp(NINGXIA), _idp(SICHUAN)
    ningxia_verifier = TokenVerifier(ningxia.trusted_keys(), now=Clock())
    sichuan_verifier = TokenVerifier(sichuan.trusted_keys(), now=Clock())
    ningxia_token = ningxia.issue_for(CLERK)
    sichuan_token = sichuan.issue(clerk_id="c-51", office_code="510802-MRO-01", roles=["registrar"])
    ningxia_verifier.verify(ningxia_token)
    sichuan_verifier.verify(sichuan_token)
    assert "unknown key id" in _refusal(ningxia_verifier, sichuan_token)
    assert "unknown key id" in _refusal(sichuan_verifier, ningxia_token)
    # Signed by Ningxia's key but claiming Sichuan: refused on its region, not passed as a cached token.
    claiming_sichuan = jwt.encode(
        {"iss": issuer_for(NINGXIA), "aud": tokens.AUDIENCE, "sub": "c-07", "office": "640104-MRO-01",
         "region": SICHUAN, "roles": ["registrar"], "kind": "clerk", "iat": int(NOW), "nbf": int(NOW),
         "exp": int(NOW) + 3600, "jti": "j-1"},
        ningxia.signing_key, algorithm=ALGORITHM, headers={"kid": ningxia.kid})
    assert "not this service's region" in _refusal(ningxia_verifier, claiming_sichuan)
    assert "not this service's region" in _refusal(ningxia_verifier, claiming_sichuan)


def test_a_token_for_another_audience_is_refused_though_one_for_this_audience_is_cached_invariant_8() -> None:
    idp = _idp()
    token = idp.issue_for(CLERK)
    verifier = TokenVerifier(idp.trusted_keys(), now=Clock())
    verifier.verify(token)
    for_the_web = jwt.encode(
        {"iss": issuer_for(NINGXIA), "aud": "tongban-web", "sub": "c-07", "office": "640104-MRO-01",
         "region": NINGXIA, "roles": ["registrar"], "kind": "clerk", "iat": int(NOW), "nbf": int(NOW),
         "exp": int(NOW) + 3600, "jti": "j-2"},
        idp.signing_key, algorithm=ALGORITHM, headers={"kid": idp.kid})
    assert "wrong audience" in _refusal(verifier, for_the_web)
    other_audience = TokenVerifier(idp.trusted_keys(), audience="tongban-web", now=Clock())
    assert "wrong audience" in _refusal(other_audience, token), "a cache belongs to one verifier"


def test_a_cached_token_of_a_retired_key_is_refused_once_the_keys_are_reloaded_invariant_8(tmp_path: Path) -> None:
    idp = IdentityProvider.open(tmp_path, NINGXIA, now=lambda: NOW)
    verifier = TokenVerifier(idp.trusted_keys(), now=Clock())
    old_kid = idp.kid
    old_token = idp.issue_for(CLERK)
    verifier.verify(old_token)
    idp.rotate()
    (tmp_path / f"{old_kid}{tokens.PUBLIC_SUFFIX}").unlink()  # retired: its tokens have expired
    verifier.keys.reload()
    assert "unknown key id" in _refusal(verifier, old_token)
    assert verifier.verify(idp.issue_for(CLERK)).clerk_id == CLERK.clerk_id


def test_the_cache_is_bounded_and_an_evicted_token_is_verified_afresh() -> None:
    idp = _idp()
    verifier = TokenVerifier(idp.trusted_keys(), now=Clock(), cache_size=2)
    issued = [idp.issue_for(CLERK) for _ in range(5)]
    for token in issued:
        verifier.verify(token)
    assert len(verifier._verified) == 2
    assert verifier.verify(issued[0]).token_id, "evicted, then verified from scratch"
