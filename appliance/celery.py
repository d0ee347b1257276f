"""The Celery app. Apps declare tasks with @shared_task and never import this module."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "appliance.settings")
app = Celery("fulcrum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_fulcrum_logging(loglevel=None, **kwargs):
    """Keep Django's LOGGING (structured lines, optional syslog) in the worker and beat too, at the
    level given on the command line (`-l warning` must mean it: this handler replaces Celery's own)."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
