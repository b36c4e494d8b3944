"""Fill the English catalogue: our source strings are English, so msgstr = msgid, always.

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
        # Always the source text: msgmerge's fuzzy guesses ("Customer ledger" ->
        # "Customer service") must not survive in English.
        if entry.msgid_plural:
            wanted = {0: entry.msgid, 1: entry.msgid_plural}
            if entry.msgstr_plural != wanted:
                entry.msgstr_plural = wanted
                changed = True
        elif entry.msgstr != entry.msgid:
            entry.msgstr = entry.msgid
            changed = True
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
            changed = True
    if changed:
        po.save()
