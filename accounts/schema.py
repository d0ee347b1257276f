"""OpenAPI: how API tokens are sent, so the schema (and its docs page) documents the Bearer scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "flc_<id>.<secret>",
                "description": "A per-user API token (Maintenance › API tokens, or POST /api/v1/tokens/). "
                               "It carries its owner's role."}
