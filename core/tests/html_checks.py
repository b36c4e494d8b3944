"""What the Content-Security-Policy forbids in a page, found with the standard HTML parser."""

from html.parser import HTMLParser


class _InlineCodeFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = {name.lower(): value for name, value in attrs}
        if tag == "script" and not names.get("src") and names.get("type") != "application/json":
            self.problems.append(f"<script> without src at line {self.getpos()[0]}")
        if tag == "style":
            self.problems.append(f"<style> element at line {self.getpos()[0]}")
        for name in names:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler at line {self.getpos()[0]}")
            if name == "style":
                self.problems.append(f"<{tag} style=…> attribute at line {self.getpos()[0]}")
        for name in ("href", "src", "action", "formaction"):
            if (names.get(name) or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…> at line {self.getpos()[0]}")


def inline_code(html: str) -> list[str]:
    """Inline scripts, event handlers, style elements and attributes, javascript: URLs."""
    finder = _InlineCodeFinder()
    finder.feed(html)
    finder.close()
    return finder.problems
