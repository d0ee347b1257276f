"""System Overview: every service with its real servers, live state, connections, online/drain/halt."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from accounts.roles import CONFIGURE, OPERATE, can
from realservers.actions import ACTIONS, act, kernel_answer_text
from realservers.models import RealServer
from virtualservices.choices import METHODS

from .. import overview_data
from ..applyinfo import request_apply_summary
from ..overview_states import RS_STATES, VS_STATES
from ..rowhtml import render_rows
from .common import back_to, paginate, query_without, require


def _load(request, summary):
    return overview_data.load(
        applied_at=summary["applied_at"], query=request.GET.get("q", "").strip(),
        state_filter=request.GET.get("state", ""), method=request.GET.get("method", ""))


def _context(request) -> dict:
    summary = request_apply_summary(request)
    data = _load(request, summary)
    page, per_page = paginate(request, data.rows)
    overview_data.attach_stats(page.object_list)
    overview_data.attach_health(page.object_list)
    return {
        "rows_html": mark_safe(render_rows(page.object_list, can(request.user, CONFIGURE),  # noqa: S308
                                           can(request.user, OPERATE))),
        "data": data, "page": page, "per_page": per_page, "rows": page.object_list,
        "q": request.GET.get("q", ""), "state": request.GET.get("state", ""),
        "method": request.GET.get("method", ""), "filters": overview_data.FILTERS, "methods": METHODS,
        "page_sizes": overview_data.PAGE_SIZES, "base_query": query_without(request, "page"),
        "size_query": query_without(request, "page", "per_page"),
        "rs_states": RS_STATES, "vs_states": VS_STATES, "apply": summary,
    }


def overview(request):
    return render(request, "frontend/overview.html", _context(request))


def overview_live(request):
    """The 2-second refresh (htmx): the page's table, with the tiles and the pending chip and banner
    out of band; the browser morphs them in place, so scroll position and focus stay."""
    return render(request, "frontend/_overview_live.html", _context(request))


@require_POST
def server_state(request, pk, action):
    require(request, OPERATE)
    if action not in ACTIONS:
        raise PermissionDenied("Unknown action.")
    rs = get_object_or_404(RealServer.objects.select_related("service"), pk=pk)
    _, kernel = act([rs], ACTIONS[action])
    text = kernel_answer_text(f"Real server '{rs}'", action, kernel)
    ok = kernel["status"] == "done"
    if request.htmx:  # the overview's buttons: refresh the table now and say what happened
        response = trigger_client_event(HttpResponse(status=204), "fulcrum:refresh")
        return trigger_client_event(response, "fulcrum:toast", {"text": text})
    (messages.success if ok else messages.error)(request, text)
    return redirect(back_to(request, "overview"))
