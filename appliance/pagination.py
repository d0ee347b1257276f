"""List pagination: page/page_size, or limit/offset (what NetBox and most automation speak).

Every page states the page size it used (`page_size`), so a client that asked for more than the
cap (MAX_PAGE_SIZE) sees it was capped instead of mistaking a short page for the end.
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination, PageNumberPagination
from rest_framework.response import Response

PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000


class _LimitOffset(LimitOffsetPagination):
    default_limit, max_limit = PAGE_SIZE, MAX_PAGE_SIZE


class Pagination(PageNumberPagination):
    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    limit_query_param, offset_query_param = "limit", "offset"  # served by _LimitOffset

    def paginate_queryset(self, queryset, request, view=None):
        self._by_offset = None
        if self.limit_query_param in request.query_params or self.offset_query_param in request.query_params:
            self._by_offset = _LimitOffset()
            return self._by_offset.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if self._by_offset is not None:
            response = self._by_offset.get_paginated_response(data)
            response.data["page_size"] = self._by_offset.limit
            return response
        return Response({"count": self.page.paginator.count, "page_size": self.page.paginator.per_page,
                         "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        described = super().get_paginated_response_schema(schema)
        described["properties"]["page_size"] = {
            "type": "integer", "example": PAGE_SIZE,
            "description": f"The page size used: the one asked for, capped at {MAX_PAGE_SIZE}."}
        described["required"] = [*described.get("required", []), "page_size"]
        return described

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view),
                *_LimitOffset().get_schema_operation_parameters(view)]
