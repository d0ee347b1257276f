"""Active-active members on the BGP page: each member's in-sync state (refreshed every 2 s), join and
remove (admin), "sync now" (operator). The rules are the API's: ha.members and Member.clean()."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from accounts.roles import APPLY, CONFIGURE
from ha import member_sync, members
from ha.models import EditedMember, Member, MemberOutbox
from ha.pairing import PairingRefused

from ..forms import MemberJoinForm
from .common import refused_form, require


def members_context(form: MemberJoinForm | None = None) -> dict:
    box = MemberOutbox.objects.filter(pk=1).only("version").first()
    rows = [(m, box is not None and m.sync_state == Member.IN_SYNC and m.version == box.version)
            for m in Member.objects.all()]
    return {"members": rows, "members_version": box.version if box else None,
            "edited_by": EditedMember.current(), "join_form": form or MemberJoinForm()}


def members_live(request):
    """The member table alone, for the page's 2-second refresh."""
    return render(request, "frontend/_members_table.html", members_context())


def members_action(request):
    """POST: join, remove, sync one, sync all; back to the BGP page (or it again, with the join form's errors)."""
    if request.method != "POST":
        return redirect("bgp")
    action = request.POST.get("action", "")
    if action in ("sync", "sync_all"):
        require(request, APPLY)
        pk = get_object_or_404(Member, pk=request.POST.get("member")).pk if action == "sync" else None
        count = member_sync.sync_now(pk)
        messages.success(request, f"Configuration sync queued to {count} member(s).")
        return redirect("bgp")
    require(request, CONFIGURE)
    if action == "remove":
        member = get_object_or_404(Member, pk=request.POST.get("member"))
        said = members.leave(member)
        messages.success(request, f"Member {member.peer_name or member.address} removed; {said}.")
        return redirect("bgp")
    form = MemberJoinForm(request.POST)
    if form.is_valid():
        try:
            member = members.join(**form.cleaned_data)
        except PairingRefused as exc:
            form = refused_form(MemberJoinForm, request, form, exc)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Member {member.peer_name or member.address} joined; it takes the "
                                      "configuration now.")
            return redirect("bgp")
    from .cluster import bgp_page

    return bgp_page(request, join_form=form, status=400)
