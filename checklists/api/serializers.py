"""The checklist's answer, described for the API schema (the data itself is built by checklists.catalogue.build)."""

from rest_framework import serializers

from ..catalogue import TODO
from ..probes import engine as E

STATUSES = [E.PASS, E.FAIL, E.WARN, E.NOT_RUN]
ITEM_STATUSES = [*STATUSES, TODO]


class CheckItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=ITEM_STATUSES, help_text=(
        "pass / fail / warn / not_run: found by the probes or read from the configuration; todo: a step only "
        "the admin can take (no probe sees it), never part of the overall status."))
    evidence = serializers.CharField(help_text="What the probes or the configuration show, or why nothing ran; "
                                               "empty for a todo.")
    facts = serializers.DictField(help_text="Raw probe facts (e.g. which MAC answered ARP).")
    fix = serializers.CharField(help_text="What to do (for a todo: the step and why).")
    steps = serializers.ListField(child=serializers.CharField(), help_text="Names of the step blocks to follow.")
    checked_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField(help_text="The service or server changed since this was checked.")


class CheckRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    reason = serializers.CharField()
    username = serializers.CharField()
    service = serializers.IntegerField(allow_null=True)
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    result_count = serializers.IntegerField()
    error = serializers.CharField()


class ServerChecksSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    address = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    items = CheckItemSerializer(many=True)


class StepSerializer(serializers.Serializer):
    title = serializers.CharField()
    commands = serializers.CharField(help_text="Copied as a whole.")
    lang = serializers.CharField()
    note = serializers.CharField()


class StepBlockSerializer(serializers.Serializer):
    title = serializers.CharField()
    purpose = serializers.CharField(help_text="What the block is for, e.g. the ARP problem for a VIP.")
    steps = StepSerializer(many=True)


class ChecklistServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    vip = serializers.CharField()
    method = serializers.CharField()


class ChecklistSerializer(serializers.Serializer):
    service = ChecklistServiceSerializer()
    status = serializers.ChoiceField(choices=STATUSES, help_text="The worst status of all items.")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Items per status (todo included).")
    last_run = CheckRunSerializer(allow_null=True)
    running = serializers.BooleanField()
    items = CheckItemSerializer(many=True)
    real_servers = ServerChecksSerializer(many=True)
    steps = serializers.DictField(child=StepBlockSerializer(), help_text="Step blocks by name.")
    steps_note = serializers.CharField(help_text="What to replace in the steps (e.g. a GATEWAY placeholder).")


class RecheckSerializer(serializers.Serializer):
    run = CheckRunSerializer()
    checklist = ChecklistSerializer()
