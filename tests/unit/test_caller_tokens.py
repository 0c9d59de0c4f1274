"""Signed caller tokens (services/common/trust/tokens.py, authenticator.py): architecture
invariant 8, "nobody is believed on their word". Each refusal names what is wrong."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.events import Actor
from services.common.grpc_context import Unauthenticated, token_metadata
from services.common.trust.authenticator import TokenAuthenticator
from services.common.trust.offices import OfficeDirectory
from services.common.trust.signin import NoToken, find_token, login, token_path
from services.common.trust.tokens import (
    IdentityProvider,
    TokenRefused,
    TokenVerifier,
    TrustedKeys,
    idp_keys_dir,
)

NOW = 1_790_000_000.0  # a fixed instant: no test depends on today's date
NINGXIA, SICHUAN = "640000", "510000"
CLERK = Actor(kind="clerk", clerk_id="c-07", office_code="640104-MRO-01", region=NINGXIA, role="registrar")


def _idp(region: str = NINGXIA, at: float = NOW) -> IdentityProvider:
    return IdentityProvider(region=region, signing_key=Ed25519PrivateKey.generate(), now=lambda: at)


def _verifier(idp: IdentityProvider, at: float = NOW) -> TokenVerifier:
    return TokenVerifier(idp.trusted_keys(), now=lambda: at)


def _authenticator(idp: IdentityProvider, at: float = NOW) -> TokenAuthenticator:
    return TokenAuthenticator(_verifier(idp, at), OfficeDirectory.national(idp.region))


def _refusal(authenticator: TokenAuthenticator, metadata: dict[str, str]) -> str:
    with pytest.raises(Unauthenticated) as refused:
        authenticator.authenticate(metadata)
    return str(refused.value)


def _bearer(token: str) -> dict[str, str]:
    return dict(token_metadata(token))


def _tampered(token: str, **claims: object) -> str:
    """The token with its payload edited and its signature kept: what an attacker can make."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(claims)
    edited = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{header}.{edited}.{signature}"


def test_a_verified_token_gives_the_actor_it_names_invariant_8() -> None:
    idp = _idp()
    assert _authenticator(idp).authenticate(_bearer(idp.issue_for(CLERK))) == CLERK


@pytest.mark.parametrize(("metadata", "says"), [
    ({}, "missing"),
    ({"authorization": "Basic dXNlcjpwYXNz"}, "malformed: expected 'Bearer <token>'"),
    ({"authorization": "Bearer not-a-jwt"}, "malformed token"),
])
def test_a_missing_or_malformed_credential_is_refused_invariant_8(metadata: dict[str, str], says: str) -> None:
    assert says in _refusal(_authenticator(_idp()), metadata)


def test_an_expired_or_not_yet_valid_token_is_refused_invariant_8() -> None:
    idp = _idp()
    token = idp.issue_for(CLERK, lifetime=timedelta(hours=1))
    assert "expired" in _refusal(_authenticator(idp, at=NOW + 2 * 3600), _bearer(token))
    early = idp.issue(clerk_id="c-07", office_code="640104-MRO-01", roles=["registrar"], not_before=NOW + 3600)
    assert "not yet valid" in _refusal(_authenticator(idp), _bearer(early))
    assert _authenticator(idp, at=NOW + 3601).authenticate(_bearer(early)) == CLERK


def test_a_token_edited_after_signing_is_refused_as_wrongly_signed_invariant_8() -> None:
    """The issue's role and kind spoof, done on the token: the signature no longer matches."""
    idp = _idp()
    token = idp.issue_for(CLERK)
    for forged in (_tampered(token, roles=["court"]), _tampered(token, kind="system"),
                   _tampered(token, region=SICHUAN)):
        assert "wrong signature" in _refusal(_authenticator(idp), _bearer(forged))


def test_a_token_of_another_region_or_an_unknown_key_is_refused_invariant_8() -> None:
    """The issue's region spoof: a Sichuan clerk's token (or one made with any key but Ningxia's
    IdP's) proves nothing in Ningxia."""
    ningxia, sichuan = _idp(NINGXIA), _idp(SICHUAN)
    theirs = sichuan.issue(clerk_id="gy-03", office_code="510802-MRO-01", roles=["registrar"])
    assert "unknown key id" in _refusal(_authenticator(ningxia), _bearer(theirs))
    impostor = IdentityProvider(region=NINGXIA, signing_key=Ed25519PrivateKey.generate(), now=lambda: NOW)
    assert "unknown key id" in _refusal(_authenticator(ningxia), _bearer(impostor.issue_for(CLERK)))


def test_a_token_for_another_audience_or_algorithm_is_refused_invariant_8() -> None:
    import jwt

    idp = _idp()
    other = TokenVerifier(idp.trusted_keys(), audience="tongban-web", now=lambda: NOW)
    with pytest.raises(TokenRefused, match="wrong audience"):
        other.verify(idp.issue_for(CLERK))
    shared_secret = "a secret anyone could know, 32 bytes or more"
    symmetric = jwt.encode({"sub": "c-07"}, shared_secret, algorithm="HS256", headers={"kid": idp.kid})
    assert "algorithm 'HS256' is not accepted" in _refusal(_authenticator(idp), _bearer(symmetric))


def test_the_acting_role_is_one_of_the_tokens_roles_invariant_8() -> None:
    idp = _idp()
    token = idp.issue(clerk_id="c-07", office_code="640104-MRO-01", roles=["registrar", "auditor"])
    authenticator = _authenticator(idp)
    assert authenticator.authenticate(_bearer(token)).role == "registrar"
    assert authenticator.authenticate(dict(token_metadata(token, role="auditor"))).role == "auditor"
    assert "role 'court' is not one of the token's roles" in _refusal(
        authenticator, dict(token_metadata(token, role="court")))


@pytest.mark.parametrize("header", ["x-tongban-region", "x-tongban-actor-kind", "x-tongban-clerk-id",
                                    "x-tongban-office"])
def test_plain_identity_headers_are_refused_even_with_a_good_token_invariant_8(header: str) -> None:
    idp = _idp()
    metadata = {**_bearer(idp.issue_for(CLERK)), header: "640000"}
    assert "plain identity headers are not accepted" in _refusal(_authenticator(idp), metadata)


def test_an_office_outside_the_regions_directory_is_refused_invariant_8() -> None:
    """An office belongs to one region: a token naming an office not in the directory is refused."""
    idp = _idp()
    stranger = idp.issue(clerk_id="c-07", office_code="640181-MRO-09", roles=["registrar"])
    assert "not in the office directory of region 640000" in _refusal(_authenticator(idp), _bearer(stranger))
    with pytest.raises(ValueError, match="does not name a division of region 640000"):
        OfficeDirectory(NINGXIA, {"510802-MRO-01": "广元"})


def test_a_rotated_key_is_trusted_without_a_restart_and_the_old_one_until_removed(tmp_path: Path) -> None:
    keys = tmp_path / "idp"
    idp = IdentityProvider.open(keys, NINGXIA, now=lambda: NOW)
    verifier = TokenVerifier(TrustedKeys.from_dir(keys, NINGXIA), now=lambda: NOW, reload_interval=0)
    before = idp.issue_for(CLERK)
    old_kid = idp.kid
    assert idp.rotate() != old_kid
    after = idp.issue_for(CLERK)
    assert verifier.verify(after).clerk_id == "c-07", "the new key is read when a token names it"
    assert verifier.verify(before).clerk_id == "c-07", "the old key stays trusted"
    (keys / f"{old_kid}.pub.pem").unlink()
    verifier.keys.reload()
    with pytest.raises(TokenRefused, match="unknown key id"):
        verifier.verify(before)
    assert IdentityProvider.open(keys, NINGXIA).kid == idp.kid, "the current key survives a restart"
    assert stat.S_IMODE(os.stat(keys / f"{idp.kid}.pem").st_mode) == 0o600, "a private key is the owner's only"


def test_login_saves_an_owner_only_token_that_clients_find(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TONGBAN_TOKEN", raising=False)
    signed_in = login(tmp_path, NINGXIA, office="640104-MRO-01", clerk_id="c-07", roles=["registrar"])
    assert signed_in.path == token_path(tmp_path, NINGXIA, "c-07")
    assert stat.S_IMODE(os.stat(signed_in.path).st_mode) == 0o600
    assert find_token(token_file=None, data_dir=tmp_path, region=NINGXIA, clerk_id="c-07") == signed_in.token
    verifier = TokenVerifier(TrustedKeys.from_dir(idp_keys_dir(tmp_path, NINGXIA), NINGXIA))
    assert verifier.verify(signed_in.token).actor() == CLERK
    with pytest.raises(NoToken, match="tongban login"):
        find_token(token_file=None, data_dir=tmp_path, region=NINGXIA, clerk_id="c-99")
    with pytest.raises(ValueError, match="not in the office directory"):
        login(tmp_path, NINGXIA, office="510802-MRO-01", clerk_id="c-07", roles=["registrar"])
    monkeypatch.setenv("TONGBAN_TOKEN", "from-the-environment")
    assert find_token(token_file=None, data_dir=tmp_path, region=NINGXIA, clerk_id="c-07") == "from-the-environment"


def test_a_service_without_its_regions_idp_keys_does_not_start_invariant_8(tmp_path: Path) -> None:
    from services.host.cli import main as serve

    with pytest.raises(SystemExit, match="no identity-provider public keys"):
        serve(["--service", "marriage", "--region", NINGXIA, "--kafka", "127.0.0.1:1", "--data-dir", str(tmp_path)])


def test_tongban_trust_rotate_signs_with_a_new_key_and_keeps_the_old_one_trusted(tmp_path: Path) -> None:
    from services.cli import main as tongban

    keys = tmp_path / "idp"
    before = IdentityProvider.open(keys, NINGXIA)
    token = before.issue_for(CLERK)
    assert tongban(["trust", "rotate", "--keys", str(keys), "--region", NINGXIA]) == 0
    after = IdentityProvider.open(keys, NINGXIA)
    assert after.kid != before.kid
    verifier = TokenVerifier(TrustedKeys.from_dir(keys, NINGXIA))
    assert verifier.verify(token).clerk_id == "c-07" and verifier.verify(after.issue_for(CLERK)).clerk_id == "c-07"
