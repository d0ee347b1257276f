"""DRF permission that applies accounts.roles: reading needs a login, changing needs the capability;
a request made with an API token needs the matching scope on the token too (read for reading).

A view declares what its unsafe requests need with `required_capability`
(default CONFIGURE) or, per action, `action_capabilities = {"drain": OPERATE}`.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiToken
from .roles import CONFIGURE, READ, request_can


def required_capability(view) -> str:
    per_action = getattr(view, "action_capabilities", {})
    return per_action.get(getattr(view, "action", None), getattr(view, "required_capability", CONFIGURE))


class RolePermission(BasePermission):
    message = "Your role does not allow this change."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        needed = READ if request.method in SAFE_METHODS else required_capability(view)
        return request_can(request.user, _token(request), needed)


class AdminOnly(BasePermission):
    """Even reading needs the admin role (user accounts; configuration bundles, which carry secrets)."""

    message = "Only admins may do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated
                    and request_can(request.user, _token(request), CONFIGURE))


def _token(request) -> ApiToken | None:
    """The API token this request authenticated with, or None (a session)."""
    return request.auth if isinstance(request.auth, ApiToken) else None
