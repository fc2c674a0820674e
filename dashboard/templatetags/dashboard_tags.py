"""Template helpers of the dashboard: query strings that keep the other parameters, and number formats."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest

from mlmonitor.formatting import number_format, p_value_format, percent_format

register = template.Library()


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (an empty value removes one); `page` is dropped
    unless given, since a new filter or order starts again on page 1."""
    request: HttpRequest = context["request"]
    params = request.GET.copy()
    if "page" not in changes:
        params.pop("page", None)
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.1234 -> 12.3%."""
    return percent_format(value, digits)


@register.filter
def number(value: float | None, digits: int = 3) -> str:
    """A float with `digits` significant digits."""
    return number_format(value, digits)


@register.filter
def p_value(value: float | None) -> str:
    """A p-value as people read it: four decimals, or scientific notation when tiny."""
    return p_value_format(value)
