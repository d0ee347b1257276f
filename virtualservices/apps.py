from django.apps import AppConfig


class VirtualServicesConfig(AppConfig):
    name = "virtualservices"
    verbose_name = "Virtual services"
