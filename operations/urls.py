from django.urls import include, path

from .views import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("operations.api.urls")),
]
