"""doc_section.py - write a generated section into a doc (every bench's table
in docs/BENCHMARKS.md): the text between "<!-- NAME -->" and "<!-- /NAME -->"
is replaced, or the section appended when the doc has none; written through
a temporary file and a rename, so a failed bench leaves the doc whole."""
import os
import re


def put(doc, text):
    """Put `text` (from its "<!-- NAME -->" line to its "<!-- /NAME -->") into doc."""
    text = text.rstrip("\n")
    name = re.match(r"<!-- ([\w-]+) -->", text).group(1)
    start, end = "<!-- %s -->" % name, "<!-- /%s -->" % name
    s = open(doc).read()
    a, b = s.find(start), s.find(end)
    if a >= 0 and b > a:
        s = s[:a] + text + s[b + len(end):]
    else:
        s = s.rstrip("\n") + "\n\n" + text + "\n"
    open(doc + ".tmp", "w").write(s)
    os.replace(doc + ".tmp", doc)
