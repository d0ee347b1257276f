"""DRF permission that applies accounts.roles: reading needs a login, changing needs the capability.

A view declares what its unsafe requests need with `required_capability`
(default CONFIGURE) or, per action, `action_capabilities = {"drain": OPERATE}`.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .roles import CONFIGURE, can


def required_capability(view) -> str:
    per_action = getattr(view, "action_capabilities", {})
    return per_action.get(getattr(view, "action", None), getattr(view, "required_capability", CONFIGURE))


class RolePermission(BasePermission):
    message = "Your role does not allow this change."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return can(request.user, required_capability(view))


class AdminOnly(BasePermission):
    """Even reading needs the admin role (user accounts; configuration bundles, which carry secrets)."""

    message = "Only admins may do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and can(request.user, CONFIGURE))
