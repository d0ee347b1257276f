from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import InterfaceViewSet, NetworkChangeViewSet, NetworkView, RouteViewSet, SystemSettingsView, SystemTestView

router = SimpleRouter()
router.register("system/interfaces", InterfaceViewSet, basename="interface")
router.register("system/routes", RouteViewSet, basename="route")
router.register("system/network/changes", NetworkChangeViewSet, basename="networkchange")

urlpatterns = [
    path("system/network/", NetworkView.as_view(), name="system-network"),
    path("system/settings/", SystemSettingsView.as_view(), name="system-settings"),
    path("system/settings/test-mail/", SystemTestView.as_view(kind="mail"), name="system-test-mail"),
    path("system/settings/test-syslog/", SystemTestView.as_view(kind="syslog"), name="system-test-syslog"),
    *router.urls,
]
