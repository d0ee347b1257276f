"""{% load checklists %}

{% service_checklist service %}   the whole checklist of a service: results per check and real
                                  server, evidence, fixes, the steps with copy buttons, re-check
{% checklist_steps service %}     only the ARP-problem / gateway steps, with copy buttons
"""

from django import template

from accounts.roles import OPERATE, can

from ..catalogue import build

register = template.Library()


@register.filter
def status_word(status: str) -> str:
    """A check status as a badge says it: Pass, Fail, Warning, Not run."""
    from ..models import STATUSES

    return dict(STATUSES).get(status, status)


@register.inclusion_tag("checklists/_checklist.html", takes_context=True)
def service_checklist(context, service):
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return {"checklist": build(service), "can_recheck": bool(user and can(user, OPERATE)),
            "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("checklists/_steps.html")
def checklist_steps(service):
    data = build(service)
    return {"steps": data["steps"], "steps_note": data["steps_note"], "service": data["service"]}
