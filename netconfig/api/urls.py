from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    InterfaceViewSet,
    NetworkChangeViewSet,
    NetworkView,
    RouteViewSet,
    SupportArchiveView,
    SystemControlView,
    SystemSettingsView,
    SystemTestView,
)

router = SimpleRouter()
router.register("system/interfaces", InterfaceViewSet, basename="interface")
router.register("system/routes", RouteViewSet, basename="route")
router.register("system/network/changes", NetworkChangeViewSet, basename="networkchange")

urlpatterns = [
    path("system/network/", NetworkView.as_view(), name="api-system-network"),
    path("system/settings/", SystemSettingsView.as_view(), name="api-system-settings"),
    path("system/control/", SystemControlView.as_view(), name="api-system-control"),
    path("system/support-archive/", SupportArchiveView.as_view(), name="api-support-archive"),
    path("system/settings/test-mail/", SystemTestView.as_view(kind="mail"), name="api-system-test-mail"),
    path("system/settings/test-syslog/", SystemTestView.as_view(kind="syslog"), name="api-system-test-syslog"),
    *router.urls,
]
