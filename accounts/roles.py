"""Roles and what each may do: the one table that both the API and the WebUI consult."""

from __future__ import annotations

ADMIN, OPERATOR, READ_ONLY = "admin", "operator", "readonly"
ROLE_CHOICES = [(ADMIN, "Admin"), (OPERATOR, "Operator"), (READ_ONLY, "Read-only")]

# Capabilities beyond reading.
CONFIGURE = "configure"  # create/edit/delete services, servers, settings; import; users
OPERATE = "operate"  # online / drain / halt real servers
APPLY = "apply"  # push the configuration to the kernel and the peer

READ = "read"  # every role reads; a token may be limited to reading
SCOPES = (READ, OPERATE, APPLY, CONFIGURE)  # what an API token may be allowed, capped by its owner's role
SCOPE_LABELS = {READ: "Read", OPERATE: "Operate (online/drain/halt)", APPLY: "Apply", CONFIGURE: "Configure"}

_CAPABILITIES = {
    ADMIN: {CONFIGURE, OPERATE, APPLY},
    OPERATOR: {OPERATE, APPLY},
    READ_ONLY: set(),
}


def role_of(user) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    profile = getattr(user, "profile", None)
    return profile.role if profile is not None else READ_ONLY


def can(user, capability: str) -> bool:
    role = role_of(user)
    return role is not None and capability in _CAPABILITIES[role]


def scopes_of(user) -> set[str]:
    """The token scopes a user's role allows (nothing when not logged in)."""
    role = role_of(user)
    return set() if role is None else {READ} | _CAPABILITIES[role]


def request_can(user, token, capability: str) -> bool:
    """`capability` (or READ) for a request: the role must allow it, and an API token must carry it as a scope."""
    if capability == READ:
        allowed = role_of(user) is not None
    else:
        allowed = can(user, capability)
    return allowed and (token is None or token.allows(capability))
