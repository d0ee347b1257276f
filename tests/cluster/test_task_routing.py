"""The privilege split: tasks named kernel.* go to the "kernel" queue (the privileged worker's only
queue), every other task to the default queue of the unprivileged worker."""

from appliance.celery import app

# Every task that needs CAP_NET_ADMIN/NET_RAW: the apply, runtime actions, the lockdown chain, drift, the
# status reader, the checklist probes (raw sockets), the host network and the support snapshot.
KERNEL_TASKS = {"kernel.apply", "kernel.runtime", "kernel.lockdown", "kernel.drift_check", "kernel.publish_status",
                "kernel.checklists", "kernel.network_apply", "kernel.network_expire", "kernel.support_snapshot"}


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_every_registered_task_goes_to_the_queue_its_name_says():
    app.loader.import_default_modules()
    names = {n for n in app.tasks if not n.startswith("celery.")}
    assert KERNEL_TASKS <= names
    for name in names:
        assert _queue(name) == ("kernel" if name.startswith("kernel.") else "celery"), name


def test_the_beat_schedule_names_existing_tasks(settings):
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry


def test_the_whole_beat_schedule_is_in_settings():
    """Beat runs exactly what settings.CELERY_BEAT_SCHEDULE lists: no app adds entries of its own."""
    from django.conf import settings as conf

    from appliance.settings import CELERY_BEAT_SCHEDULE as declared

    app.loader.import_default_modules()
    assert app.conf.beat_schedule == declared == conf.CELERY_BEAT_SCHEDULE
    tasks = {entry["task"] for entry in declared.values()}
    assert {"ha.heartbeat", "reports.sample_stats", "kernel.publish_status"} <= tasks
