from rest_framework import viewsets

from ..filtersets import ChangeRecordFilterSet
from ..models import ChangeRecord
from .serializers import ChangeRecordSerializer


class ChangeRecordViewSet(viewsets.ReadOnlyModelViewSet):
    """The change log: who changed what, when, with the values before and after."""

    queryset = ChangeRecord.objects.all()
    serializer_class = ChangeRecordSerializer
    filterset_class = ChangeRecordFilterSet
    lookup_value_regex = r"\d+"
