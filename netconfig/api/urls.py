from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import InterfaceViewSet, NetworkChangeViewSet, NetworkView, RouteViewSet

router = SimpleRouter()
router.register("system/interfaces", InterfaceViewSet, basename="interface")
router.register("system/routes", RouteViewSet, basename="route")
router.register("system/network/changes", NetworkChangeViewSet, basename="networkchange")

urlpatterns = [
    path("system/network/", NetworkView.as_view(), name="system-network"),
    *router.urls,
]
