"""List filtering, one FilterSet per list for the API and the WebUI: exact names with NetBox-style
lookups, `?search=`, and (API) no silently ignored query parameters (a typo such as `?lable=web` must
not answer every object)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions
from rest_framework.settings import api_settings

# NetBox's lookup suffixes: `label` is exact; `label__ic` contains (any case), `label__n` is not, ...
NAME_LOOKUPS = {
    "n": ("exact", True),
    "ie": ("iexact", False), "nie": ("iexact", True),
    "ic": ("icontains", False), "nic": ("icontains", True),
    "isw": ("istartswith", False), "nisw": ("istartswith", True),
    "iew": ("iendswith", False), "niew": ("iendswith", True),
}


class IPAddressFilter(django_filters.Filter):
    # Validated as an address first: PostgreSQL's inet column would fail on "x" with a 500, not a 400.
    field_class = forms.GenericIPAddressField


def search_filter(*fields: str) -> django_filters.CharFilter:
    """`?search=`: any of `fields` contains the text, in any case (the WebUI's search box, the API's search)."""
    def search(queryset, name, value):
        words = value.strip()
        if not words:
            return queryset
        match = Q()
        for field in fields:
            match |= Q(**{f"{field}__icontains": words})
        return queryset.filter(match)

    return django_filters.CharFilter(method=search, max_length=200,
                                     label=f"Search: {', '.join(f.replace('__', ' ') for f in fields)} contain it")


def name_filters(param: str, field: str) -> dict[str, django_filters.CharFilter]:
    filters = {param: django_filters.CharFilter(field_name=field, lookup_expr="exact")}
    for suffix, (lookup, negate) in NAME_LOOKUPS.items():
        filters[f"{param}__{suffix}"] = django_filters.CharFilter(field_name=field, lookup_expr=lookup,
                                                                  exclude=negate)
    return filters


class NameLookupFilterSet(django_filters.FilterSet):
    """A FilterSet whose Meta.name_fields ({query parameter: model field}) get exact + lookup filters."""

    @classmethod
    def get_filters(cls):
        filters = super().get_filters()
        for param, field in getattr(getattr(cls, "Meta", None), "name_fields", {}).items():
            filters.update(name_filters(param, field))
        return filters


def known_query_params(view, filterset_class) -> set[str]:
    known = {"format", *getattr(view, "extra_query_params", ())}
    if filterset_class is not None:
        known |= set(filterset_class.base_filters)
    if getattr(view, "search_fields", None):
        known.add(api_settings.SEARCH_PARAM)
    if getattr(view, "ordering_fields", None):
        known.add(api_settings.ORDERING_PARAM)
    paginator = getattr(view, "paginator", None)
    for attr in ("page_query_param", "page_size_query_param", "limit_query_param", "offset_query_param"):
        if getattr(paginator, attr, None):
            known.add(getattr(paginator, attr))
    return known


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, refusing query parameters that nothing reads with a 400 naming them."""

    def filter_queryset(self, request, queryset, view):
        known = known_query_params(view, self.get_filterset_class(view, queryset))
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise exceptions.ValidationError(
                {name: [f"Unknown query parameter; known: {', '.join(sorted(known))}."] for name in unknown})
        return super().filter_queryset(request, queryset, view)


FIELDS_PARAM, BRIEF_PARAM = "fields", "brief"
TRUE_WORDS = ("1", "true", "yes")


def selected_fields(request, readable: list[str], brief_fields: tuple[str, ...]) -> tuple[str, ...] | None:
    """The fields an answer shows: `?fields=id,label` (each one a field the answer has, else 400 naming
    it), `?brief=1`'s set where the view offers one, or None for all of them."""
    asked = request.query_params.get(FIELDS_PARAM)
    brief = bool(brief_fields) and request.query_params.get(BRIEF_PARAM) in TRUE_WORDS
    if asked is None:
        return brief_fields if brief else None
    if brief:
        raise exceptions.ValidationError({FIELDS_PARAM: ["Give fields or brief, not both."]})
    names = tuple(dict.fromkeys(name.strip() for name in asked.split(",") if name.strip()))
    if not names:
        raise exceptions.ValidationError({FIELDS_PARAM: ["Name at least one field."]})
    unknown = [name for name in names if name not in readable]
    if unknown:
        raise exceptions.ValidationError({FIELDS_PARAM: [
            f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; known: {', '.join(readable)}."]})
    return names
