"""API errors: one JSON shape for every /api/ answer that is not a success.

    {"type": "validation_error" | "client_error" | "server_error",
     "errors": [{"code": "required", "detail": "This field is required.", "attr": "vip"}, ...],
     "detail": "vip: This field is required."}

A 409 for a key another object holds adds `"existing_id": <that object's id>`.

`type` and `errors` are drf-standardized-errors' shape (`attr` is the field path, nested with dots,
e.g. "virtual_services.0.vip"; null when the error is not about one field); `detail` repeats the
messages in one line for people and for clients that only read DRF's usual `detail`.
Every validation failure is a 400 naming its field, never a 500.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_standardized_errors.formatter import ExceptionFormatter, flatten_errors
from drf_standardized_errors.handler import ExceptionHandler
from drf_standardized_errors.types import CLIENT_ERROR, SERVER_ERROR, VALIDATION_ERROR, ErrorResponse
from rest_framework import exceptions, status
from rest_framework.settings import api_settings


class QueueUnavailable(RuntimeError):
    """The task broker (Redis) did not take a queued job (an apply); the caller has already marked it failed."""


class Conflict(exceptions.APIException):
    """409; `existing_id` names the saved object that holds the key (a client can then use it)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflicts with saved data."
    default_code = "conflict"

    def __init__(self, detail=None, code=None, existing_id=None):
        super().__init__(detail, code)
        self.existing_id = existing_id


def django_errors_to_dict(exc: DjangoValidationError) -> dict:
    non_field = api_settings.NON_FIELD_ERRORS_KEY
    if hasattr(exc, "error_dict"):
        return {(non_field if field == "__all__" else field): [str(m) for m in messages]
                for field, messages in exc.message_dict.items()}
    return {non_field: [str(m) for m in exc.messages]}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the appliance accepts."
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A part the appliance needs for this is down."
    default_code = "service_unavailable"


class ErrorHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc):
        if isinstance(exc, QueueUnavailable):  # Redis down: the run is already marked failed with this reason
            return ServiceUnavailable(str(exc))
        if isinstance(exc, DjangoValidationError) and getattr(exc, "existing_id", None) is not None:
            # A uniqueness rule (virtualservices.validation.Duplicate), also for the loser of a race.
            return Conflict(django_errors_to_dict(exc), existing_id=exc.existing_id)
        if isinstance(exc, RequestDataTooBig):
            return PayloadTooLarge(str(exc))
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(django_errors_to_dict(exc))
        if isinstance(exc, IntegrityError):
            # A race lost against a unique constraint: report it, the saved data is untouched.
            return Conflict("Conflicts with saved data (another request saved the same key first); "
                            "read it again and retry.")
        return super().convert_known_exceptions(exc)


class ErrorFormatter(ExceptionFormatter):
    def format_error_response(self, error_response: ErrorResponse) -> dict:
        body = error_body(error_response)
        if getattr(self.exc, "existing_id", None) is not None:
            body["existing_id"] = self.exc.existing_id
        return body


def error_body(error_response: ErrorResponse) -> dict:
    errors = [{"code": e.code, "detail": e.detail, "attr": e.attr} for e in error_response.errors]
    summary = "; ".join(f"{e['attr']}: {e['detail']}" if e["attr"] else e["detail"] for e in errors)
    return {"type": error_response.type, "errors": errors, "detail": summary}


def body_for(exc: exceptions.APIException) -> dict:
    """The error shape for a DRF exception raised or built outside DRF's exception handler."""
    if isinstance(exc, exceptions.ValidationError):
        kind = VALIDATION_ERROR
    else:
        kind = CLIENT_ERROR if status.is_client_error(exc.status_code) else SERVER_ERROR
    return error_body(ErrorResponse(kind, flatten_errors(exc.detail)))


def is_error_body(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("errors"), list) and "type" in data


def exception_handler(exc, context):
    return ErrorHandler(exc, context).run()
