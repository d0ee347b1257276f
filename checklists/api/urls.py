from django.urls import re_path

from .views import ChecklistView

urlpatterns = [
    re_path(r"^virtual-services/(?P<pk>\d+)/checklist/?$", ChecklistView.as_view(), name="service-checklist-api"),
]
