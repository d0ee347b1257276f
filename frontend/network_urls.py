from django.urls import path

from .views import network as views

urlpatterns = [
    path("", views.network, name="network"),
    path("interfaces/add/", views.interface_edit, name="interface-add"),
    path("interfaces/<int:pk>/edit/", views.interface_edit, name="interface-edit"),
    path("interfaces/<int:pk>/delete/", views.interface_delete, name="interface-delete"),
    path("routes/add/", views.route_edit, name="route-add"),
    path("routes/<int:pk>/edit/", views.route_edit, name="route-edit"),
    path("routes/<int:pk>/delete/", views.route_delete, name="route-delete"),
    path("apply/", views.network_apply, name="network-apply"),
    path("changes/<int:pk>/confirm/", views.network_confirm, name="network-confirm"),
    path("changes/<int:pk>/status/", views.network_change_status, name="network-change-status"),
    path("system/", views.system_settings, name="system-settings"),
    path("system/test-<str:kind>/", views.system_test, name="system-test"),
]
