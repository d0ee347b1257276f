"""API errors: every validation failure is a 400 naming its field, never a 500."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cluster.run_liveness import QueueUnavailable


def django_errors_to_dict(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {("non_field_errors" if field == "__all__" else field): [str(m) for m in messages]
                for field, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        return Response(django_errors_to_dict(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, QueueUnavailable):  # Redis down: the run is already marked failed with this reason
        return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, IntegrityError):
        # A race lost against a unique constraint: report it, the saved data is untouched.
        return Response({"non_field_errors": [f"Conflicts with saved data: {exc}"]}, status=409)
    return drf_exception_handler(exc, context)
