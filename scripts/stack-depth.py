#!/usr/bin/python3
"""stack-depth.py [-a] FILE.ci - the deepest stack of each public function of a
runtime build, from GCC's -fcallgraph-info=su graph: its frame plus the
deepest chain of calls below it. Calls outside the file (memset, libgcc)
count 0 bytes; a function recursing on itself (br_get, once) counts twice
at most. Prints the largest; with -a, every public function's."""
import re
import sys

nodes, edges = {}, {}
every = sys.argv[1] == "-a"
for line in open(sys.argv[-1]):
    m = re.match(r'node: \{ title: "([^"]*)" label: "([^\\"]*)\\n[^"]*?(\d+) bytes \((\w+)\)"', line)
    if m:
        nodes[m.group(1)] = (m.group(2), int(m.group(3)), m.group(4))
        continue
    m = re.match(r'edge: \{ sourcename: "([^"]*)" targetname: "([^"]*)"', line)
    if m:
        edges.setdefault(m.group(1), set()).add(m.group(2))

def deepest(n, path):
    """(bytes, chain) of the deepest stack from node n, with path above it."""
    if n not in nodes or path.count(n) >= 2:
        return 0, []
    if nodes[n][2] != "static":
        sys.exit("stack-depth: %s has a dynamic frame" % nodes[n][0])
    best, chain = 0, []
    for t in sorted(edges.get(n, ())):
        b, c = deepest(t, path + [n])
        if b > best:
            best, chain = b, c
    return nodes[n][1] + best, [nodes[n][0]] + chain

public = sorted(n for n in nodes if nodes[n][0].startswith("nnz_"))
res = sorted(((deepest(n, [])) for n in public), key=lambda x: -x[0])
b, chain = res[0]
print("  deepest stack %d bytes (%s)" % (b, " > ".join(chain)))
for b, chain in res[1:] if every else ():
    print("    %6d %s" % (b, " > ".join(chain)))
