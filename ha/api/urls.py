from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("ha/links", views.LinkViewSet, basename="ha-link")
router.register("ha/events", views.EventViewSet, basename="ha-event")

urlpatterns = [
    path("ha/", views.StatusView.as_view(), name="ha-status"),
    path("ha/pair/", views.PairView.as_view(), name="ha-pair"),
    path("ha/pairing-token/", views.PairingTokenView.as_view(), name="ha-pairing-token"),
    path("ha/sync/", views.SyncNowView.as_view(), name="ha-sync-now"),
    path("ha/peer/accept/", views.PeerAcceptView.as_view(), name="ha-peer-accept"),
    path("ha/peer/config/", views.PeerConfigView.as_view(), name="ha-peer-config"),
    path("ha/peer/status/", views.PeerStatusView.as_view(), name="ha-peer-status"),
    path("ha/peer/unpair/", views.PeerUnpairView.as_view(), name="ha-peer-unpair"),
    path("", include("ha.api.member_urls")),
    *router.urls,
]
