"""{% load checklists %}

{% service_checklist service %}   the whole checklist of a service: the admin's steps, the results per
                                  check and real server with evidence and fixes, the numbered steps with
                                  copy buttons, re-check
{% checklist_steps service %}     only the numbered steps, with copy buttons
"""

from django import template

from accounts.roles import OPERATE, can

from ..catalogue import WORDS, build

register = template.Library()


@register.filter
def status_word(status: str) -> str:
    """A status as a badge says it: Pass, Fail, Warning, Not run, To do."""
    return WORDS.get(status, status)


def checklist_context(context, service) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return {"checklist": build(service), "can_recheck": bool(user and can(user, OPERATE)),
            "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("checklists/_checklist.html", takes_context=True)
def service_checklist(context, service):
    return checklist_context(context, service)


@register.inclusion_tag("checklists/_steps.html")
def checklist_steps(service):
    data = build(service)
    return {"steps": data["steps"], "steps_note": data["steps_note"], "service": data["service"]}
