"""Template context every page shares: the user's capabilities and the appliance banners."""

from accounts.roles import APPLY, CONFIGURE, OPERATE, can, role_of

from .banners import banners


def appliance(request):
    user = getattr(request, "user", None)
    return {
        "role": role_of(user),
        "can_configure": can(user, CONFIGURE),
        "can_operate": can(user, OPERATE),
        "can_apply": can(user, APPLY),
        "banners": banners() if user is not None and user.is_authenticated else [],
    }
