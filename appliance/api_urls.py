"""REST API v1."""

from django.urls import include, path
from rest_framework.routers import APIRootView, DefaultRouter

from accounts.api.views import ApiTokenViewSet, UserViewSet
from appliance.bulk import BULK_ACTIONS
from audit.api.views import ChangeRecordViewSet
from cluster.api.views import (
    AovpnTemplateView,
    BgpNeighbourViewSet,
    BgpSettingsView,
    BgpStatusView,
    ClusterSettingsView,
    ConfigBundleView,
    FloatingIPViewSet,
)
from realservers.api.views import RealServerViewSet, ServiceRealServerViewSet
from virtualservices.api.views import VirtualServiceViewSet


class ApiRootView(APIRootView):
    """The API root lists every resource, also those that are not viewsets (apply, config, ...)."""

    more = ("cluster", "cluster/bgp", "cluster/bgp/status", "config", "templates/aovpn", "apply", "apply/rendered",
            "status", "drift", "ha")

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response.data.update({name: request.build_absolute_uri(f"{name}/") for name in self.more})
        return response


class ApiRouter(DefaultRouter):
    """The list URL also maps PUT/PATCH/DELETE to bulk writes, for viewsets that have them
    (appliance.bulk.BulkWriteMixin); a copy of the routes, so DRF's own routers stay as they are."""

    APIRootView = ApiRootView
    routes = [DefaultRouter.routes[0]._replace(mapping={**DefaultRouter.routes[0].mapping, **BULK_ACTIONS}),
              *DefaultRouter.routes[1:]]


router = ApiRouter()
router.register("virtual-services", VirtualServiceViewSet, basename="virtualservice")
router.register(r"virtual-services/(?P<service_pk>\d+)/real-servers", ServiceRealServerViewSet,
                basename="service-realserver")
router.register("real-servers", RealServerViewSet, basename="realserver")
router.register("floating-ips", FloatingIPViewSet, basename="floatingip")
router.register("bgp-neighbours", BgpNeighbourViewSet, basename="bgpneighbour")
router.register("changes", ChangeRecordViewSet, basename="change")
router.register("tokens", ApiTokenViewSet, basename="apitoken")
router.register("users", UserViewSet, basename="user")

urlpatterns = [
    path("cluster/", ClusterSettingsView.as_view(), name="cluster-settings"),
    path("cluster/bgp/", BgpSettingsView.as_view(), name="bgp-settings"),
    path("cluster/bgp/status/", BgpStatusView.as_view(), name="bgp-status"),
    path("config/", ConfigBundleView.as_view(), name="config-bundle"),
    path("templates/aovpn/", AovpnTemplateView.as_view(), name="template-aovpn"),
    path("", include("cluster.api.apply_urls")),
    path("", include("healthchecks.api.urls")),
    path("", include("checklists.api.urls")),
    path("", include("ha.api.urls")),
    path("", include("netconfig.api.urls")),
    *router.urls,
]
