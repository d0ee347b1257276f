"""API errors: every validation failure is a 400 naming its field, never a 500."""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def django_errors_to_dict(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {("non_field_errors" if field == "__all__" else field): [str(m) for m in messages]
                for field, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


class Conflict(APIException):
    """A uniqueness rule refused the object (virtualservices.validation.Duplicate), when validated or,
    for the loser of a race, when saved under the lock: 409 with the field's message and the id of the
    object already there. Raised from a serializer, where DRF would turn a ValidationError into a 400."""

    status_code = status.HTTP_409_CONFLICT

    def __init__(self, exc: DjangoValidationError, existing_id: int | None):
        self.body = {**django_errors_to_dict(exc), "existing_id": existing_id}
        super().__init__(detail="conflict")


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError) and hasattr(exc, "existing_id"):
        exc = Conflict(exc, exc.existing_id)
    if isinstance(exc, Conflict):
        return Response(exc.body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        return Response(django_errors_to_dict(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": str(exc)}, status=413)
    if isinstance(exc, IntegrityError):
        # A race lost against a unique constraint: report it, the saved data is untouched. The database's
        # own words ("UNIQUE constraint failed: ...") name tables, not fields: they stay in the log.
        return Response({"non_field_errors": ["Conflicts with an object saved at the same moment; "
                                              "reload and try again."]}, status=409)
    return drf_exception_handler(exc, context)
