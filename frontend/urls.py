from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.overview, name="overview"),
    path("services/add/", views.service_edit, name="service-add"),
    path("services/<int:pk>/edit/", views.service_edit, name="service-edit"),
    path("services/<int:pk>/delete/", views.service_delete, name="service-delete"),
    path("services/<int:service_pk>/servers/add/", views.server_edit, name="server-add"),
    path("servers/<int:pk>/edit/", views.server_edit, name="server-edit"),
    path("servers/<int:pk>/delete/", views.server_delete, name="server-delete"),
    path("servers/<int:pk>/<str:action>/", views.server_state, name="server-state"),
]
