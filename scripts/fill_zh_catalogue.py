"""Put translations into the zh-hans catalogue from a Python/JSON dict file: {msgid: msgstr}.

Usage: python scripts/fill_zh_catalogue.py translations.py
A plural entry takes the one Chinese form for every index. Fuzzy flags on filled entries go.
Prints the msgids still untranslated, so that a translator knows what is left.
"""

import ast
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

translations = ast.literal_eval(Path(sys.argv[1]).read_text(encoding="utf-8"))
po = polib.pofile(str(PO))
for entry in po:
    if entry.obsolete or entry.msgid not in translations:
        continue
    text = translations[entry.msgid]
    if entry.msgid_plural:
        entry.msgstr_plural = {0: text}
    else:
        entry.msgstr = text
    if "fuzzy" in entry.flags:
        entry.flags.remove("fuzzy")
po.save()
left = [e.msgid for e in po if not e.obsolete and (not e.translated() or "fuzzy" in e.flags)]
for msgid in left:
    print("untranslated:", msgid)
