from django.urls import path

from .views import network as views

urlpatterns = [
    path("control/", views.system_control, name="system-control"),
    path("support/", views.support, name="support"),
    path("support/download/", views.support_download, name="support-download"),
    path("control/<str:action>/", views.system_control_confirm, name="system-control-confirm"),
    path("control/<str:action>/<str:service>/", views.system_control_confirm, name="system-control-service"),
]
