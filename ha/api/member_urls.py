from django.urls import path
from rest_framework.routers import SimpleRouter

from . import member_views as views

router = SimpleRouter()
router.register("cluster/members", views.MemberViewSet, basename="cluster-member")

urlpatterns = [
    # Before the router: its detail route would take "peer" for a member id.
    path("cluster/members/peer/accept/", views.MemberAcceptView.as_view(), name="member-peer-accept"),
    path("cluster/members/peer/config/", views.MemberConfigView.as_view(), name="member-peer-config"),
    path("cluster/members/peer/status/", views.MemberStatusView.as_view(), name="member-peer-status"),
    path("cluster/members/peer/leave/", views.MemberLeaveView.as_view(), name="member-peer-leave"),
    *router.urls,
]
