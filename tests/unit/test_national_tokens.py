"""The national identity provider (services/common/trust/national.py): every region trusts it for a
national auditor's audit reads only (architecture invariant 8: nobody is believed beyond what they
are trusted for). The development layout `tongban up` and `tongban login --national` make."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from services.cli import main as tongban
from services.common.errors import NotAuthorised
from services.common.grpc_context import Unauthenticated, token_metadata
from services.common.trust.authenticator import TokenAuthenticator
from services.common.trust.national import NATIONAL, NATIONAL_AUDITOR_ROLE, national_keys_dir
from services.common.trust.signin import login, token_path
from services.common.trust.tokens import IdentityProvider, idp_keys_dir, issuer_for

NINGXIA = "640000"
TRAIL = "/tongban.audit.v1.AuditService/GetCaseTrail"
REGISTER = "/tongban.marriage.v1.MarriageService/RegisterMarriage"


def _national_token(data: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert tongban(["login", "--data", str(data), "--national", "--clerk", "na-01", "--print"]) == 0
    return capsys.readouterr().out.strip()


def _ningxia(data: Path) -> TokenAuthenticator:
    IdentityProvider.open(idp_keys_dir(data, NINGXIA), NINGXIA)  # as `tongban up` makes it
    return TokenAuthenticator.from_data_dir(data, NINGXIA)


def test_a_national_token_proves_the_national_auditor_for_audit_reads_only_invariant_8(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = _national_token(tmp_path, capsys)
    assert token_path(tmp_path, NATIONAL, "na-01").exists()
    door = _ningxia(tmp_path)
    actor = door.authenticate(dict(token_metadata(token)), TRAIL)
    assert (actor.kind, actor.clerk_id, actor.region, actor.role) == ("auditor", "na-01", NATIONAL,
                                                                     NATIONAL_AUDITOR_ROLE)
    for method in (REGISTER, "/tongban.marriage.v1.MarriageService/GetCase", ""):
        with pytest.raises(NotAuthorised) as refused:
            door.authenticate(dict(token_metadata(token)), method)
        assert refused.value.rule == "NationalAuditorsOnlyReadForAudit", method


def test_a_region_cannot_speak_for_the_national_auditor_nor_the_national_idp_for_a_region_invariant_8(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    national_token = _national_token(tmp_path, capsys)
    door = _ningxia(tmp_path)
    ningxia_idp = IdentityProvider.open(idp_keys_dir(tmp_path, NINGXIA), NINGXIA)
    # Ningxia's key under the national issuer's name: checked against the national keys, unknown there.
    forged = ningxia_idp.issue(clerk_id="na-02", office_code="", roles=[NATIONAL_AUDITOR_ROLE], kind="auditor")
    payload = jwt.decode(forged, options={"verify_signature": False})
    resigned = jwt.encode({**payload, "iss": issuer_for(NATIONAL), "region": NATIONAL}, ningxia_idp.signing_key,
                          algorithm="EdDSA", headers={"kid": ningxia_idp.kid})
    with pytest.raises(Unauthenticated, match="unknown key id"):
        door.authenticate(dict(token_metadata(resigned)), TRAIL)
    # The national IdP cannot sign a clerk of Ningxia.
    national_idp = IdentityProvider.open(national_keys_dir(tmp_path), NATIONAL)
    clerk = national_idp.issue(clerk_id="c-07", office_code="640104-MRO-01", roles=["registrar"])
    with pytest.raises(Unauthenticated):
        door.authenticate(dict(token_metadata(clerk)), REGISTER)
    # A region that was given no national keys trusts no national token at all.
    other = tmp_path / "elsewhere"
    alone = _ningxia(other)
    assert alone.national is None
    with pytest.raises(Unauthenticated, match="unknown key id"):
        alone.authenticate(dict(token_metadata(national_token)), TRAIL)


def test_the_national_idp_signs_the_national_auditor_role_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=NATIONAL_AUDITOR_ROLE):
        login(tmp_path, NATIONAL, office="", clerk_id="na-01", roles=["registrar"])
    assert tongban(["login", "--data", str(tmp_path), "--clerk", "c-07"]) == 2, "a region's login names its region"
