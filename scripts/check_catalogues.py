"""Fail when a translation catalogue has untranslated or fuzzy entries (CI runs this after
`make makemessages`, so a string added to the code without a translation fails too)."""

import re
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
problems = []
for po_path in sorted((ROOT / "locale").glob("*/LC_MESSAGES/django.po")):
    po = polib.pofile(str(po_path))
    for entry in po.untranslated_entries() + po.fuzzy_entries():
        problems.append(f"{po_path.relative_to(ROOT)}: {entry.msgid!r}")
    for entry in po.translated_entries():
        # Placeholders must survive translation, or the page raises at render time.
        wanted = sorted(re.findall(r"%\(\w+\)[sd]|\{\w*\}", entry.msgid))
        got = sorted(re.findall(r"%\(\w+\)[sd]|\{\w*\}", entry.msgstr or ""))
        if entry.msgstr and wanted != got:
            problems.append(f"{po_path.relative_to(ROOT)}: placeholders differ in {entry.msgid!r}")
        if po_path.parts[-3] == "en" and not entry.msgid_plural and entry.msgstr != entry.msgid:
            problems.append(
                f"{po_path.relative_to(ROOT)}: English text differs from the source: {entry.msgid!r}"
            )
if problems:
    print("Incomplete translation catalogues:")
    print("\n".join(problems))
    sys.exit(1)
print("Translation catalogues complete.")
