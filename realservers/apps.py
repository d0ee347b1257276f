from django.apps import AppConfig


class RealServersConfig(AppConfig):
    name = "realservers"
    verbose_name = "Real servers"
