from django.urls import path
from rest_framework.routers import SimpleRouter

from .apply_views import ApplyRunViewSet, ApplyView, DriftView, KernelStatusView, RenderedView

router = SimpleRouter()
router.register("apply/runs", ApplyRunViewSet, basename="applyrun")

urlpatterns = [
    path("apply/", ApplyView.as_view(), name="apply"),
    path("apply/rendered/", RenderedView.as_view(), name="apply-rendered"),
    path("status/", KernelStatusView.as_view(), name="kernel-status"),
    path("drift/", DriftView.as_view(), name="drift"),
    *router.urls,
]
