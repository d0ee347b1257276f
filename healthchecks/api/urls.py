from django.urls import path

from .views import RealServerHealthView

urlpatterns: list = [
    path("real-servers/<int:pk>/health", RealServerHealthView.as_view(), name="realserver-health"),
]
