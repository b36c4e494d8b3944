"""Fill the English catalogue: our source strings are English, so msgstr = msgid.

Run by `make makemessages`; keeps the en catalogue complete without hand work.
"""

from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent

for po_path in (ROOT / "locale" / "en" / "LC_MESSAGES").glob("*.po"):
    po = polib.pofile(str(po_path))
    changed = False
    for entry in po:
        if entry.obsolete:
            continue
        if entry.msgid_plural:
            if not all(entry.msgstr_plural.values()):
                entry.msgstr_plural = {0: entry.msgid, 1: entry.msgid_plural}
                changed = True
        elif not entry.msgstr:
            entry.msgstr = entry.msgid
            changed = True
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
            changed = True
    if changed:
        po.save()
