#!/usr/bin/python3
"""pass_names.py - what the layering tests know about passes, read from the
registry (src/core/registry.c) rather than a list kept by hand.

  pass_names.py names           the registered passes, one a line
  pass_names.py named FILE...   lines of FILEs (comments stripped) whose
                                string literals key on a pass name: a
                                literal that starts with one followed by
                                '"', ':', '_', ' ' or '|' ("prune",
                                "quantize:bits=8 | ...", "quantize_budget")
"""
import re
import sys


def names():
    reg = open("src/core/registry.c").read()
    table = reg[reg.index("nnz_passes[]"):]
    return re.findall(r"&nnz_pass_(\w+)", table)


def strip_comments(text):
    # keep string literals (and line numbers), drop /* */ and // comments
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def named(files):
    pat = re.compile(r'"(%s)["\:_ |]' % "|".join(map(re.escape, names())))
    found = 0
    for f in files:
        lines = strip_comments(open(f, errors="replace").read()).split("\n")
        for k, line in enumerate(lines, 1):
            if pat.search(line):
                print("%s:%d: %s" % (f, k, line.strip()))
                found += 1
    return found


if __name__ == "__main__":
    if sys.argv[1:2] == ["names"]:
        print("\n".join(names()))
    elif sys.argv[1:2] == ["named"]:
        sys.exit(1 if named(sys.argv[2:]) else 0)
    else:
        sys.exit(__doc__)
