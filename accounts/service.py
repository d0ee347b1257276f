"""The one way to change users and API tokens, called by the API (accounts/api/) and the WebUI alike.

It holds the rules both must keep: nobody demotes, deactivates or deletes themselves; the last
active admin stays; a token's scopes are at most its owner's role and its creator's; its expiry
lies in the future. Every change is written to the change log (audit.recording, with the actor
of the request).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import ChangeRecord
from audit.recording import record

from .models import ApiToken, Profile
from .roles import ADMIN, role_of, scopes_of


class AccountRuleError(ValueError):
    """A change the rules refuse; `field` names the input it is about (for the form or the JSON error)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _active_admins():
    return get_user_model().objects.filter(is_active=True).filter(Q(is_superuser=True) | Q(profile__role=ADMIN))


def _check_lockout(actor, user, *, role: str, is_active: bool) -> None:
    """Refuse a change that takes `user` out of the admins when it is the actor or the last admin."""
    if role_of(user) != ADMIN or not user.is_active or (role == ADMIN and is_active):
        return
    field = "role" if role != ADMIN else "is_active"
    if actor is not None and user.pk == actor.pk:
        raise AccountRuleError(field, "You cannot remove your own admin role or deactivate yourself.")
    if not _active_admins().exclude(pk=user.pk).exists():
        raise AccountRuleError(field, "This is the last active admin; make another admin first.")


def create_user(*, username: str, password: str, role: str, email: str = "", is_active: bool = True):
    with transaction.atomic():
        user = get_user_model().objects.create_user(username, email=email, password=password, is_active=is_active)
        Profile.objects.create(user=user, role=role)
        record(ChangeRecord.CREATE, user, object_type="user", summary=f"user '{user.username}' created",
               after={"role": role, "is_active": is_active})
    return user


def update_user(actor, user, *, role: str | None = None, is_active: bool | None = None, email: str | None = None,
                password: str | None = None):
    """Change what is given (None: keep). AccountRuleError when the rules refuse."""
    before = {"role": role_of(user), "is_active": user.is_active, "email": user.email}
    after = {"role": role if role is not None else before["role"],
             "is_active": is_active if is_active is not None else user.is_active,
             "email": email if email is not None else user.email}
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().get(pk=user.pk)
        _check_lockout(actor, user, role=after["role"], is_active=after["is_active"])
        user.email, user.is_active = after["email"], after["is_active"]
        if password:
            user.set_password(password)
        user.save()
        Profile.objects.update_or_create(user=user, defaults={"role": after["role"]})
        changed = sorted(k for k in after if after[k] != before[k]) + (["password"] if password else [])
        record(ChangeRecord.UPDATE, user, object_type="user",
               summary=f"user '{user.username}': changed " + (", ".join(changed) or "nothing"),
               before={k: before[k] for k in changed if k in before},
               after={k: after[k] for k in changed if k in after})
    user.refresh_from_db()
    return user


def delete_user(actor, user) -> None:
    if actor is not None and user.pk == actor.pk:
        raise AccountRuleError("user", "You cannot delete yourself.")
    with transaction.atomic():
        _check_lockout(actor, user, role="", is_active=False)
        record(ChangeRecord.DELETE, user, object_type="user", summary=f"user '{user.username}' deleted")
        user.delete()


# ------------------------------------------------------------------ tokens


def issue_token(creator, *, name: str, owner=None, scopes=None, expires_at=None) -> tuple[ApiToken, str]:
    """A token for `owner` (default: the creator; another user only by an admin). Scopes default to all the
    owner's role allows and are capped by the owner's and the creator's roles."""
    owner = owner or creator
    if owner.pk != creator.pk and role_of(creator) != ADMIN:
        raise AccountRuleError("user", "Only an admin may make a token for another user.")
    allowed = scopes_of(owner) & scopes_of(creator)
    wanted = set(scopes) if scopes else allowed
    beyond = sorted(wanted - allowed)
    if beyond:
        raise AccountRuleError("scopes", f"Beyond what {'your' if owner.pk == creator.pk else 'the'} role allows: "
                                         f"{', '.join(beyond)}. Allowed: {', '.join(sorted(allowed))}.")
    if expires_at is not None and expires_at <= timezone.now():
        raise AccountRuleError("expires_at", "The expiry must lie in the future (or be blank: no expiry).")
    with transaction.atomic():
        token, key = ApiToken.issue(owner, name, expires_at, scopes=sorted(wanted))
        record(ChangeRecord.CREATE, token, object_type="apitoken",
               summary=f"API token '{token.name}' created for {owner.username}",
               after={"scopes": token.scopes, "expires_at": expires_at.isoformat() if expires_at else None})
    return token, key


def visible_tokens(user):
    """An admin sees every user's tokens; others their own."""
    tokens = ApiToken.objects.select_related("user")
    return tokens if role_of(user) == ADMIN else tokens.filter(user=user)


def revoke_token(actor, token: ApiToken) -> bool:
    """Revoke (own tokens; an admin: anyone's). False when it was revoked already."""
    if token.user_id != actor.pk and role_of(actor) != ADMIN:
        raise AccountRuleError("token", "Only an admin may revoke another user's token.")
    if token.revoked_at is not None:
        return False
    token.revoke()
    record(ChangeRecord.DELETE, token, object_type="apitoken",
           summary=f"API token '{token.name}' of {token.user.username} revoked")
    return True
