"""Every URL of the project, collected from the resolver, so a new page cannot be forgotten
by the tests that walk them (anonymous access now, the permission matrix later)."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

# Sample values for path converters; enough to resolve, not to find a record.
SAMPLE_BY_CONVERTER = {
    "int": "1",
    "signedint": "1",
    "str": "sample",
    "slug": "sample",
    "uuid": "00000000-0000-0000-0000-000000000001",
    "path": "sample",
}


@dataclass(frozen=True)
class WalkedURL:
    name: str  # "namespace:name", or the route when unnamed
    path: str  # a concrete path with sample arguments


def _concrete(route: str, converters: dict) -> str | None:
    import re

    def sample(match: re.Match) -> str:
        converter, _, _name = match.group(1).rpartition(":")
        return SAMPLE_BY_CONVERTER.get(converter or "str", "sample")

    out = re.sub(r"<([^>]+)>", sample, route)
    # Regex routes (admin) are left to their own tests unless plain.
    if any(ch in out for ch in "^$()?*+[]\\"):
        return None
    return out


def walk_urls(resolver: URLResolver | None = None, prefix: str = "", ns: str = "") -> Iterator[WalkedURL]:
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            namespace = ns
            if entry.namespace:
                namespace = f"{ns}{entry.namespace}:"
            yield from walk_urls(entry, prefix + route, namespace)
        elif isinstance(entry, URLPattern):
            path = _concrete(prefix + route, {})
            if path is None:
                continue
            name = f"{ns}{entry.name}" if entry.name else prefix + route
            yield WalkedURL(name=name, path="/" + path)
