"""`tongban web --endpoint REGION/SERVICE=HOST:PORT`: the console over fixed front doors (docker compose),
with no stack.json -- clerks still sign in with their region's identity provider only (invariant 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli import main as tongban
from services.web.cli import build_console, fixed_addresses, parse_endpoints
from services.web.gateway import ServiceDown
from services.web.session import Clerk

COMPOSE_LIKE = ["640000/marriage=marriage-640000:50051", "640000/relief=relief-640000:50051",
                "510000/marriage=marriage-510000:50051"]


@pytest.fixture()
def trust(tmp_path: Path) -> Path:
    """What compose's trust-init makes: the CA, host certificates, each region's IdP keys."""
    directory = tmp_path / "trust"
    assert tongban(["trust", "init", "--dir", str(directory), "--regions", "640000,510000",
                    "--host", "marriage-640000"]) == 0
    return directory


def test_each_named_front_door_is_called_at_its_address_and_an_unnamed_one_is_down() -> None:
    addresses = fixed_addresses(parse_endpoints(COMPOSE_LIKE))
    assert addresses("640000", "relief") == "relief-640000:50051"
    assert addresses("510000", "marriage") == "marriage-510000:50051"
    with pytest.raises(ServiceDown, match="without an --endpoint"):
        addresses("510000", "relief")


@pytest.mark.parametrize(("value", "says"), [
    ("64000/marriage=h:1", "6-digit"),
    ("640000/wedding=h:1", "no service 'wedding'"),
    ("640000/marriage=h", "HOST:PORT"),
    ("640000/marriage", "HOST:PORT"),
])
def test_a_mistyped_endpoint_stops_the_console_before_it_serves(value: str, says: str,
                                                               capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    assert tongban(["web", "--data", str(tmp_path), "--endpoint", value]) == 2
    assert says in capsys.readouterr().err


def test_the_same_front_door_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="named twice"):
        parse_endpoints(["640000/marriage=a:1", "640000/marriage=b:2"])


def test_clerks_sign_in_to_the_regions_named_with_their_own_regions_identity_provider(
        tmp_path: Path, trust: Path) -> None:
    """Invariant 8: the token the console presents is signed by the clerk's region's IdP (whose public
    keys the services trust), not by another region's; no stack.json is needed."""
    from services.common.trust.tokens import TokenRefused, TokenVerifier, TrustedKeys

    data = tmp_path / "web"
    app = build_console(data, parse_endpoints(COMPOSE_LIKE), tls_ca=trust / "ca.pem", idp_keys=trust / "idp")
    config = app.state.config
    assert list(config.regions) == ["640000", "510000"]
    clerk = Clerk(region="510000", office="510802-MRO-01", clerk_id="c-07", role="registrar",
                  expires_at="2027-01-01T00:00:00Z")
    token = config.issue_credential(clerk)
    claims = TokenVerifier(TrustedKeys.from_dir(trust / "idp" / "510000", "510000")).verify(token)
    assert (claims.office_code, claims.clerk_id) == ("510802-MRO-01", "c-07")
    with pytest.raises(TokenRefused):  # the other region's IdP did not sign it
        TokenVerifier(TrustedKeys.from_dir(trust / "idp" / "640000", "640000")).verify(token)
    with pytest.raises(PermissionError):  # an office of another region cannot sign in here
        config.issue_credential(Clerk(region="510000", office="640104-MRO-01", clerk_id="c-07", role="registrar",
                                      expires_at="2027-01-01T00:00:00Z"))
    assert (data / "web" / "session.key").is_file(), "the session key is kept in the console's own data dir"
