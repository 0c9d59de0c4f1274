"""The national identity provider: one issuer every region trusts, for a national auditor's audit
reads only (issue 16: the auditor's timeline of a case across regions).

Each region's front doors trust their own region's IdP for everything its clerks do. A national
auditor is no region's clerk, and no region accepts another region's clerks (invariant 8), so the
national auditor has an issuer of their own: the national IdP (issuer `tongban-idp/national`, its
own Ed25519 key directory, tokens whose region is `national`). Every region's authenticator also
trusts the national IdP's public keys, but a national token is believed for little:

- it carries only the role `national_auditor` (any other role in it refuses the whole token);
- it is accepted only on the audit read RPCs in `NATIONAL_AUDIT_METHODS`; on every command and
  every other read the call is refused PERMISSION_DENIED before the handler runs, nothing stored.

Keys: `DATA/national/keys/idp/` in development (`tongban up` makes it, as it does each region's);
`DIR/idp/national/` of `tongban trust init` (compose's `trust` volume); production mounts the
national IdP's public keys and points `--national-idp-keys` (env TONGBAN_NATIONAL_IDP_KEYS) at them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

from services.common.errors import NotAuthorised, RuleViolation
from services.common.kit.rules import Rule, check
from services.common.trust.tokens import PUBLIC_SUFFIX, IdentityProvider, TokenVerifier, TrustedKeys, idp_keys_dir

NATIONAL: Final = "national"  # the national IdP's "region" in its tokens and issuer (no GB/T 2260 code)
NATIONAL_AUDITOR_ROLE: Final = "national_auditor"
NATIONAL_IDP_KEYS_ENV: Final = "TONGBAN_NATIONAL_IDP_KEYS"
# The only calls a national token is good for: a case's thread, a person's cases, a store's hashes.
# Each is authorised again by its handler (an auditor's role, a recorded reason).
NATIONAL_AUDIT_METHODS: Final = frozenset({
    "/tongban.audit.v1.AuditService/GetCaseTrail",
    "/tongban.audit.v1.AuditService/FindPersonCases",
    "/tongban.audit.v1.AuditService/VerifyStore",
})


def national_keys_dir(data_dir: Path) -> Path:
    """Where the national IdP's keys live under a development data directory."""
    return idp_keys_dir(data_dir, NATIONAL)


def national_idp(keys_dir: Path, *, create: bool = True) -> IdentityProvider:
    """The national IdP whose keys are in `keys_dir` (made there on first use in development)."""
    return IdentityProvider.open(keys_dir, NATIONAL, create=create)


def national_verifier(keys_dir: Path | None) -> TokenVerifier | None:
    """A verifier of national tokens, or None when `keys_dir` holds no national public key (a
    deployment without a national auditor: national tokens are then unknown keys, refused)."""
    if keys_dir is None or not any(keys_dir.glob(f"*{PUBLIC_SUFFIX}")):
        return None
    return TokenVerifier(TrustedKeys.from_dir(keys_dir, NATIONAL))


@dataclass(frozen=True)
class NationalAuditorsOnlyReadForAudit(Rule):
    """A national auditor is trusted by every region for audit reads only: a region believes the
    national IdP about who is auditing, never about who may register, decide or read a case file
    (architecture invariant 8: nobody is believed beyond what they are trusted for)."""

    name: ClassVar[str] = "NationalAuditorsOnlyReadForAudit"
    article: ClassVar[str] = "个人信息保护法 第三十四条"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    method: str

    def is_broken(self) -> bool:
        return self.method not in NATIONAL_AUDIT_METHODS

    @property
    def message(self) -> str:
        allowed = ", ".join(sorted(m.rsplit("/", 1)[-1] for m in NATIONAL_AUDIT_METHODS))
        return (f"a national auditor's token is accepted for the audit reads only ({allowed}), "
                f"not for {self.method.rsplit('/', 1)[-1] or 'this call'}")


def admit_national(method: str) -> None:
    """Raises NotAuthorised (PERMISSION_DENIED) unless `method` is an audit read."""
    check(NationalAuditorsOnlyReadForAudit(method))
