from rest_framework.routers import SimpleRouter

from .views import ManagementNetworkViewSet

router = SimpleRouter()
router.register("management-networks", ManagementNetworkViewSet, basename="managementnetwork")
urlpatterns = router.urls
