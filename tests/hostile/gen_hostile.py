#!/usr/bin/python3
"""Generate the hostile-input suite for nnzip.

Usage:  NNZIP=build/nnzip /usr/bin/python3 tests/hostile/gen_hostile.py OUTDIR

Writes every hostile input into OUTDIR (ONNX models that are malformed,
over a limit or try to escape their folder, and .nnz blobs that are
mutated copies of a real one) plus OUTDIR/expected.tsv, one line per case:

    case_id <TAB> command <TAB> exit_code <TAB> stderr_regex <TAB> why

`command` is a template: {nnzip} is the binary under test and {dir} is
OUTDIR. `stderr_regex` is an extended regex, or `-` for "any stderr".
tests/suite/60-hostile.sh runs the lines; tests/hostile/README.md lists
them.

Nothing here is random at run time: the "random bytes" case uses a fixed
seed and every blob is a mutation of one blob that the real nnzip writes
from a tiny model made here. ONNX's helpers build the valid models; what
they refuse to build (bad varints, groups, lengths past the end, nesting
10,000 deep) is written as raw protobuf wire bytes by the small writer
below. Blobs are parsed and re-written by our own implementation of
docs/FORMAT.md, which re-computes every CRC, so the check a case is about
is the one that fails.
"""

import copy
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8


# ---------------------------------------------------------------------------
# Raw protobuf wire bytes
# ---------------------------------------------------------------------------

def varint(v):
    """Unsigned base-128 varint (v < 2**64)."""
    assert 0 <= v < 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num, wt):
    return varint(num << 3 | wt)


def f_varint(num, v):
    return key(num, 0) + varint(v & (1 << 64) - 1)


def f_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return key(num, 2) + varint(len(data)) + data


# ONNX field numbers (onnx.proto)
M_IR_VERSION, M_PRODUCER, M_GRAPH, M_OPSET = 1, 2, 7, 8
OP_DOMAIN, OP_VERSION = 1, 2
G_NODE, G_NAME, G_INIT, G_INPUT, G_OUTPUT = 1, 2, 5, 11, 12
N_INPUT, N_OUTPUT, N_NAME, N_OP_TYPE, N_ATTR = 1, 2, 3, 4, 5
A_NAME, A_G, A_TYPE = 1, 6, 20
A_TYPE_GRAPH = 5
T_DIMS, T_DTYPE, T_NAME, T_RAW = 1, 2, 8, 9


def model_bytes(graph):
    """A ModelProto around GraphProto bytes `graph` (None: no graph)."""
    out = f_varint(M_IR_VERSION, IR_VERSION) + f_bytes(M_PRODUCER, "gen_hostile")
    if graph is not None:
        out += f_bytes(M_GRAPH, graph)
    return out + f_bytes(M_OPSET, f_bytes(OP_DOMAIN, "") + f_varint(OP_VERSION, OPSET))


def tensor_bytes(name, dims, dtype, raw):
    """A TensorProto with dims written one varint per dim (not packed)."""
    out = b"".join(f_varint(T_DIMS, d) for d in dims)
    return out + f_varint(T_DTYPE, dtype) + f_bytes(T_NAME, name) + f_bytes(T_RAW, raw)


def graph_with_initializer(tensor):
    """A graph whose only content is one initializer (a TensorProto's bytes)."""
    return f_bytes(G_NAME, "g") + f_bytes(G_INIT, tensor)


# ---------------------------------------------------------------------------
# Valid models (onnx.helper), to be corrupted
# ---------------------------------------------------------------------------

def weights(shape, seed):
    n = int(np.prod(shape))
    return ((np.arange(n, dtype=np.float32) * 0.37 + seed) % 2.0 - 1.0).reshape(shape)


def mlp_model():
    """X[1,16] -> MatMul W1[16,16] -> Add B1[16] -> MatMul W2[16,8] -> Y.
    Its three weights are >= 64 bytes, so all three go to a blob's directory."""
    return mlp_of("mlp", weights((16, 16), 0.1), weights((16,), 0.2), weights((16, 8), 0.3))


def mlp_of(name, w1, b1, w2):
    """X -> MatMul W1 -> Add B1 -> MatMul W2 -> Y, shapes from the arrays."""
    inits = [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(b1, "B1"),
             numpy_helper.from_array(w2, "W2")]
    nodes = [helper.make_node("MatMul", ["X", "W1"], ["h"]),
             helper.make_node("Add", ["h", "B1"], ["a"]),
             helper.make_node("MatMul", ["a", "W2"], ["Y"])]
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, w1.shape[0]])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, w2.shape[1]])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="gen_hostile")
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m)
    return m


def cycle_model():
    """y = Add(MatMul(X, W), z), z = Relu(y): y and z feed each other; and
    `s = Identity(s)` feeds itself. Not a valid ONNX graph, but nnzip never
    executes a graph, so it has no reason to loop over it."""
    w = numpy_helper.from_array(weights((16, 16), 0.4), "W")
    nodes = [helper.make_node("MatMul", ["X", "W"], ["h"], name="mm"),
             helper.make_node("Add", ["h", "z"], ["y"], name="add"),
             helper.make_node("Relu", ["y"], ["z"], name="relu"),
             helper.make_node("Identity", ["s"], ["s"], name="self")]
    g = helper.make_graph(nodes, "cycle",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                          [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    return m


def external_model(location, offset=0, length=None):
    """One [4,4] float initializer (64 bytes) stored as external data."""
    t = TensorProto()
    t.name = "W"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([4, 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)),
                 ("length", None if length is None else str(length))):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, v
    nodes = [helper.make_node("MatMul", ["X", "W"], ["Y"])]
    g = helper.make_graph(nodes, "ext",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
                          [t])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    return m.SerializeToString()


# ---------------------------------------------------------------------------
# The .nnz format (docs/FORMAT.md): parse, edit, write back with fresh CRCs
# ---------------------------------------------------------------------------

MAGIC = b"NNZB\r\n\x1a\n"
HEADER_SIZE, SECTION_SIZE, PAYLOAD_ALIGN = 64, 32, 64
SEC_DIRECTORY, SEC_GRAPH, SEC_PAYLOAD, SEC_METADATA, SEC_NAMES = 1, 2, 3, 4, 5
SEC_GRAPH_PACKED = 6  # format 2.1: the graph, compressed
RUN = 16  # format 2: entries per run, one u32 offset each
# element bytes of the ONNX dtypes a blob may hold (docs/FORMAT.md)
ELEM_SIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8,
             14: 8, 15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1}


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def read_varint(buf, pos):
    v = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7


class Blob:
    """A parsed blob: the header's version, the sections in table order
    (type and bytes) and the directory's entries as dicts."""

    def __init__(self, data):
        data = bytes(data)
        assert data[:8] == MAGIC
        self.major, self.minor, flags = struct.unpack_from("<HHI", data, 8)
        file_size, nsec, table_crc, table_off = struct.unpack_from("<QIIQ", data, 16)
        assert flags == 0 and table_off == HEADER_SIZE and file_size == len(data)
        assert crc32(data[:60]) == struct.unpack_from("<I", data, 60)[0]
        table = data[table_off:table_off + nsec * SECTION_SIZE]
        assert crc32(table) == table_crc
        self.sections = []  # [type, bytes], in table order
        for i in range(nsec):
            typ, sflags, off, ln, crc, res = struct.unpack_from("<IIQQII", table, i * SECTION_SIZE)
            body = data[off:off + ln]
            assert sflags == 0 and res == 0 and crc32(body) == crc
            self.sections.append([typ, body])
        if self.major == 1:
            self.entries = self.parse_directory(self.section(SEC_DIRECTORY))
            self.resolve_graph_names()
        else:
            # a compressed graph describes no entry: none is read from it
            graph = next((b for t, b in self.sections if t == SEC_GRAPH), None)
            self.entries = self.parse_directory2(self.section(SEC_DIRECTORY), graph)

    def resolve_graph_names(self):
        """Format 1.2's names section: an entry whose name the graph holds
        (right before its raw_data header) has an empty directory name; give
        it its name, marked so the directory is written back as it was."""
        names = next((b for t, b in self.sections if t == SEC_NAMES), None)
        if names is None:
            return
        graph = self.section(SEC_GRAPH)
        lens = struct.unpack_from("<%dH" % len(self.entries), names, 0)
        for e, n in zip(self.entries, lens):
            if not n:
                continue
            size = ELEM_SIZE[e["dtype"]]
            for d in e["dims"]:
                size *= d
            end = e["graph_offset"] - 1 - len(varint(size))
            e["name"] = graph[end - n:end]
            e["name_in_graph"] = True

    def section(self, typ):
        return next(s[1] for s in self.sections if s[0] == typ)

    def set_section(self, typ, body):
        next(s for s in self.sections if s[0] == typ)[1] = body

    @staticmethod
    def read_name_type_shape(d, p, e):
        """An entry's own name (varint length, bytes, NUL), type and dims
        into e; returns where the entry goes on."""
        n, p = read_varint(d, p)
        e["name"] = d[p:p + n]
        assert d[p + n] == 0
        p += n + 1
        e["dtype"], ndims = d[p], d[p + 1]
        p += 2
        e["dims"] = []
        for _ in range(ndims):
            v, p = read_varint(d, p)
            e["dims"].append(v)
        return p

    @staticmethod
    def parse_directory(d):
        (count,) = struct.unpack_from("<I", d, 0)
        offsets = struct.unpack_from("<%dI" % count, d, 4)
        entries = []
        for off in offsets:
            e = {}
            p = Blob.read_name_type_shape(d, off, e)
            e["location"] = d[p]
            p += 1
            for k in ("graph_offset", "payload_offset", "payload_length"):
                e[k], p = read_varint(d, p)
            e["encoding"], e["encoding_version"] = d[p], d[p + 1]
            n, p = read_varint(d, p + 2)
            e["params"] = d[p:p + n]
            entries.append(e)
        return entries

    @staticmethod
    def parse_directory2(d, graph):
        """Format 2: runs of RUN entries, each run's first at its u32 offset,
        the others after it (graph_offset as a difference, payload_offset
        where the one before ends, aligned); an entry described by the graph
        (location 0x20) takes name, type and shape from the TensorProto
        fields before its bytes. Each entry keeps `described` (those three
        as the graph gave them) so an edit of them writes them out."""
        (count,) = struct.unpack_from("<I", d, 0)
        nrun = (count + RUN - 1) // RUN
        offsets = struct.unpack_from("<%dI" % nrun, d, 4)
        entries = []
        prev = None
        for k in range(count):
            p = offsets[k // RUN] if k % RUN == 0 else p
            e = {}
            loc = d[p]
            e["location"] = loc & ~0x20
            go, p = read_varint(d, p + 1)
            if k % RUN and not loc & 0x40 and not prev["location"] & 0x40:
                go += prev["graph_offset"]
            e["graph_offset"] = go
            if loc & 0x20:
                back, p = read_varint(d, p)
                g = go - back
                dims = []
                while graph[g] == 0x08:
                    v, g = read_varint(graph, g + 1)
                    dims.append(v)
                assert graph[g] == 0x10
                e["dtype"], g = read_varint(graph, g + 1)
                assert graph[g] == 0x42
                n, g = read_varint(graph, g + 1)
                e["name"], e["dims"] = graph[g:g + n], dims
                e["described"] = (e["name"], e["dtype"], list(dims))
            else:
                p = Blob.read_name_type_shape(d, p, e)
            if k % RUN == 0:
                v, p = read_varint(d, p)
                e["payload_offset"] = 64 * v
            else:
                end = prev["payload_offset"] + prev["payload_length"]
                e["payload_offset"] = (end + 63) // 64 * 64
            e["payload_length"], p = read_varint(d, p)
            e["encoding"], e["encoding_version"] = d[p] & 15, d[p] >> 4
            n, p = read_varint(d, p + 1)
            e["params"] = d[p:p + n]
            p += n
            entries.append(e)
            prev = e
        return entries

    @staticmethod
    def entry_bytes(e):
        name = b"" if e.get("name_in_graph") else e["name"]
        out = varint(len(name)) + name + b"\0"
        out += bytes([e["dtype"], len(e["dims"])]) + b"".join(varint(d) for d in e["dims"])
        out += bytes([e["location"]])
        out += b"".join(varint(e[k]) for k in ("graph_offset", "payload_offset", "payload_length"))
        out += bytes([e["encoding"], e["encoding_version"]])
        return out + varint(len(e["params"])) + e["params"]

    def entry_bytes2(self, k, e, prev):
        """Format 2's entry k; an edit of what the graph described (name,
        type, shape) or of a payload_offset the run cannot derive is
        written as it stands: explicit fields, and the run's offset (only a
        run's first entry has one: such an edit of another entry is
        written as format 1.2, to_format1)."""
        desc = e.get("described") == (e["name"], e["dtype"], list(e["dims"]))
        out = bytes([e["location"] | (0x20 if desc else 0)])
        go = e["graph_offset"]
        if k % RUN and not e["location"] & 0x40 and not prev["location"] & 0x40:
            go -= prev["graph_offset"]
        assert go >= 0, "format 2 cannot hold a graph offset below the one before"
        out += varint(go)
        if desc:
            size = ELEM_SIZE[e["dtype"]]
            for dd in e["dims"]:
                size *= dd
            back = (sum(1 + len(varint(dd)) for dd in e["dims"]) + 1 + len(varint(e["dtype"])) +
                    1 + len(varint(len(e["name"]))) + len(e["name"]) + 1 + len(varint(size)))
            out += varint(back)
        else:
            out += varint(len(e["name"])) + e["name"] + b"\0"
            out += bytes([e["dtype"], len(e["dims"])]) + b"".join(varint(dd) for dd in e["dims"])
        if k % RUN == 0:
            assert e["payload_offset"] % 64 == 0
            out += varint(e["payload_offset"] // 64)
        else:
            end = prev["payload_offset"] + prev["payload_length"]
            assert e["payload_offset"] == (end + 63) // 64 * 64, "use to_format1 for this edit"
        out += varint(e["payload_length"])
        out += bytes([(e["encoding"] & 15) | e["encoding_version"] << 4])
        return out + varint(len(e["params"])) + e["params"]

    def directory_bytes(self):
        if self.major != 1:
            bodies = [self.entry_bytes2(k, e, self.entries[k - 1] if k else None)
                      for k, e in enumerate(self.entries)]
            n = len(bodies)
            nrun = (n + RUN - 1) // RUN
            offs, at = [], 4 + 4 * nrun
            for k, b in enumerate(bodies):
                if k % RUN == 0:
                    offs.append(at)
                at += len(b)
            return struct.pack("<I%dI" % nrun, n, *offs) + b"".join(bodies)
        bodies = [self.entry_bytes(e) for e in self.entries]
        n = len(bodies)
        offs, at = [], 4 + 4 * n
        for b in bodies:
            offs.append(at)
            at += len(b)
        return struct.pack("<I%dI" % n, n, *offs) + b"".join(bodies)

    def to_format1(self):
        """The same blob in format 1.2's layout (a u32 offset per entry, names
        the graph holds in the names section), which runtimes keep reading:
        for edits format 2 cannot express (a payload_offset a run derives)."""
        if self.major == 1:
            return self
        self.major, self.minor = 1, 2
        any_name = False
        for e in self.entries:
            if e.get("described"):
                e["name_in_graph"] = True
                any_name = True
        if any_name and not any(t == SEC_NAMES for t, _ in self.sections):
            self.sections.append([SEC_NAMES, b""])
        return self

    def write(self, payload_shift=0):
        """The blob's bytes, laid out as nnzip lays them out (each section
        right after the previous one, the payload at a multiple of 64, plus
        `payload_shift` bytes), every CRC computed afresh."""
        self.set_section(SEC_DIRECTORY, self.directory_bytes())
        if any(t == SEC_NAMES for t, _ in self.sections):  # a u16 per entry, as they are now
            self.set_section(SEC_NAMES, b"".join(
                struct.pack("<H", len(e["name"]) if e.get("name_in_graph") else 0)
                for e in self.entries))
        nsec = len(self.sections)
        pos = HEADER_SIZE + nsec * SECTION_SIZE
        body, table = bytearray(), bytearray()
        for typ, data in self.sections:
            if typ == SEC_PAYLOAD:
                pad = (-pos) % PAYLOAD_ALIGN + payload_shift
                body += bytes(pad)
                pos += pad
            table += struct.pack("<IIQQII", typ, 0, pos, len(data), crc32(data), 0)
            body += data
            pos += len(data)
        head = bytearray(HEADER_SIZE)
        head[:8] = MAGIC
        struct.pack_into("<HHIQIIQ", head, 8, self.major, self.minor, 0, pos, nsec,
                         crc32(table), HEADER_SIZE)
        struct.pack_into("<I", head, 60, crc32(head[:60]))
        return bytearray(head + table + body)


def table_entry(b, i):
    """(type, offset, length) of section-table entry i of blob bytes b."""
    typ, _, off, ln = struct.unpack_from("<IIQQ", b, HEADER_SIZE + i * SECTION_SIZE)
    return typ, off, ln


def set_table_entry(b, i, off=None, ln=None):
    at = HEADER_SIZE + i * SECTION_SIZE
    if off is not None:
        struct.pack_into("<Q", b, at + 8, off)
    if ln is not None:
        struct.pack_into("<Q", b, at + 16, ln)


def reseal(b):
    """Recompute the CRC of every section that lies inside the file, then the
    table's and the header's: after a hand edit of the table, the check that
    fails is the one about the edit."""
    nsec = struct.unpack_from("<I", b, 24)[0]
    for i in range(nsec):
        _, off, ln = table_entry(b, i)
        if off + ln <= len(b):
            struct.pack_into("<I", b, HEADER_SIZE + i * SECTION_SIZE + 24, crc32(b[off:off + ln]))
    table = b[HEADER_SIZE:HEADER_SIZE + nsec * SECTION_SIZE]
    struct.pack_into("<I", b, 28, crc32(table))
    struct.pack_into("<I", b, 60, crc32(b[:60]))
    return b


def section_index(b, typ):
    nsec = struct.unpack_from("<I", b, 24)[0]
    return next(i for i in range(nsec) if table_entry(b, i)[0] == typ)


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

class Suite:
    def __init__(self, outdir):
        self.dir = outdir
        self.lines = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    def case(self, cid, cmd, code, regex, why):
        for field in (cid, cmd, str(code), regex, why):
            assert "\t" not in field and "\n" not in field and field, (cid, field)
        assert cid not in (l[0] for l in self.lines), cid
        self.lines.append((cid, cmd, str(code), regex, why))

    def info(self, cid, name, code, regex, why):
        self.case(cid, "{nnzip} info {dir}/%s" % name, code, regex, why)

    def finish(self):
        with open(self.path("expected.tsv"), "w") as f:
            for l in self.lines:
                f.write("\t".join(l) + "\n")


def onnx_cases(s):
    # -- wire-level damage ---------------------------------------------------
    good = mlp_model().SerializeToString()
    w1 = numpy_helper.from_array(weights((16, 16), 0.1)).raw_data
    at = good.index(w1)
    s.write("truncated.onnx", good[:at + len(w1) // 2])
    s.info("truncated", "truncated.onnx", 3,
           r"truncated\.onnx: not a valid ONNX model: .*declares [0-9]+ bytes, only [0-9]+ remain",
           "a model cut in the middle of W1's raw_data: every length prefix around the "
           "cut now runs past the end, and must be refused before protobuf-c reads it")
    s.case("truncated_compress", "{nnzip} compress {dir}/truncated.onnx -o {dir}/truncated.nnz", 3,
           r"not a valid ONNX model", "compress refuses the same file and writes no blob")

    # ir_version whose varint has 11 bytes with the continuation bit (>10 bytes, >64 bits)
    assert good[:2] == key(M_IR_VERSION, 0) + varint(IR_VERSION)  # ir_version comes first
    s.write("varint_11.onnx", key(M_IR_VERSION, 0) + b"\xff" * 11 + b"\x01" + good[2:])
    s.info("varint_11", "varint_11.onnx", 3,
           r"ModelProto: field 1: invalid or truncated varint",
           "a varint longer than 10 bytes is not a 64-bit number; reading it must stop "
           "at 10 bytes, not shift past 64 bits (undefined behaviour in C)")

    # wire type 3 (start group) on the graph field; 6 and 7 do not exist
    s.write("wiretype_3.onnx", good + key(M_GRAPH, 3) + b"\x00")
    s.info("wiretype_3", "wiretype_3.onnx", 3, r"field 7 uses wire type 3 \(groups or invalid\)",
           "a field of wire type 3 (start group) after a valid model: groups are a proto2 "
           "relic ONNX never uses, and must be refused, not skipped")
    # inside a nested message: a NodeProto of the graph gets a field of wire type 6
    node_bad = f_bytes(N_OP_TYPE, "Relu") + key(9, 6) + b"\x00"
    s.write("wiretype_6.onnx", model_bytes(f_bytes(G_NAME, "g") + f_bytes(G_NODE, node_bad)))
    s.info("wiretype_6", "wiretype_6.onnx", 3, r"NodeProto: field 9 uses wire type 6",
           "wire type 6 does not exist; found two messages deep, it is named by its message")
    s.write("wiretype_7.onnx", good + key(20, 7))
    s.info("wiretype_7", "wiretype_7.onnx", 3, r"ModelProto: field 20 uses wire type 7",
           "wire type 7 does not exist, even on a field number nnzip does not know")

    # producer_name declares 1000 bytes, 5 follow
    s.write("length_past_end.onnx", f_varint(M_IR_VERSION, IR_VERSION) + key(M_PRODUCER, 2) +
            varint(1000) + b"short")
    s.info("length_past_end", "length_past_end.onnx", 3,
           r"ModelProto: field 2 declares 1000 bytes, only 5 remain",
           "a length prefix past the end of the file: the read must be bounded by the file")

    # -- dims ----------------------------------------------------------------
    def one_tensor(name, tensor):
        s.write(name, model_bytes(graph_with_initializer(tensor)))

    one_tensor("dims_2p42.onnx", tensor_bytes("big", [2 ** 42 + 1], TensorProto.FLOAT, b"\0" * 4))
    s.info("dims_2p42", "dims_2p42.onnx", 3,
           r"tensor 'big': 4398046511105 elements of float exceed the 68719476736-byte tensor limit",
           "dims [2^42+1] of float: 16 TiB + 4 bytes, over the 2^36-byte (64 GiB) tensor limit; "
           "the size must be refused before anything is allocated for it")
    one_tensor("dims_wrap64.onnx", tensor_bytes("wrap", [2 ** 32, 2 ** 32, 2], TensorProto.FLOAT,
                                                b"\0" * 4))
    s.info("dims_wrap64", "dims_wrap64.onnx", 3, r"tensor 'wrap': the product of its dims overflows",
           "dims [2^32, 2^32, 2]: the product wraps 64 bits (to 0); an unchecked product "
           "would make a 0-byte buffer for a huge tensor")
    one_tensor("zero_dim_data.onnx", tensor_bytes("z", [0, 5], TensorProto.FLOAT, b"\0" * 20))
    s.info("zero_dim_data", "zero_dim_data.onnx", 3,
           r"tensor 'z': raw_data holds 20 bytes, its dims and type \(float\) need 0",
           "dims [0, 5] have no elements but raw_data has 20 bytes: data and shape disagree")
    # int64 -3 is a 10-byte varint (two's complement)
    one_tensor("neg_dims.onnx", tensor_bytes("neg", [4, -3], TensorProto.FLOAT, b"\0" * 4))
    s.info("neg_dims", "neg_dims.onnx", 3, r"tensor 'neg': dim 1 is negative \(-3\)",
           "a negative dim: cast to an unsigned size it would be 2^64-3")
    one_tensor("dims_40.onnx", tensor_bytes("deep", [1] * 40, TensorProto.FLOAT, b"\0" * 4))
    s.info("dims_40", "dims_40.onnx", 3, r"tensor 'deep' has 40 dims; the limit is 32",
           "40 dims: a reader with fixed-size shape arrays (32 here, as in the blob format) "
           "must refuse more instead of writing past the array")
    # a packed dims field (wire type 2) declaring 10^9 int64 varints of 8 bytes each
    packed = key(T_DIMS, 2) + varint(8 * 10 ** 9) + b"\x81" * 64
    one_tensor("dims_count_1e9.onnx", packed)
    s.info("dims_count_1e9", "dims_count_1e9.onnx", 3,
           r"TensorProto: field 1 declares 8000000000 bytes, only 64 remain",
           "a packed dims field declaring ~8 GB (10^9 dims): nothing may be sized from "
           "the declared length before it is checked against the file")

    # -- strings ---------------------------------------------------------------
    node = f_bytes(N_OP_TYPE, "Relu") + key(N_NAME, 2) + varint(2 ** 30) + b"x" * 16
    s.write("string_1gib.onnx", model_bytes(f_bytes(G_NAME, "g") + key(G_NODE, 2) +
                                            varint(len(node)) + node))
    s.info("string_1gib", "string_1gib.onnx", 3, r"NodeProto: field 3 declares 1073741824 bytes",
           "a node name whose length prefix says 1 GiB in a 100-byte file: no 1 GiB "
           "allocation, no read past the end")

    # -- subgraph nesting --------------------------------------------------------
    def nested(depth):
        """If -> then_branch -> If -> ... `depth` graphs deep, built from the
        inside out as a list of prefixes (each level only prefixes its inner
        graph, so the bytes are the prefixes, outermost first, then the core)."""
        inner_len = len(f_bytes(G_NAME, "leaf"))
        prefixes = [f_bytes(G_NAME, "leaf")]
        for _ in range(depth):
            attr_head = f_bytes(A_NAME, "then_branch") + f_varint(A_TYPE, A_TYPE_GRAPH) + \
                key(A_G, 2) + varint(inner_len)
            attr_len = len(attr_head) + inner_len
            node_head = f_bytes(N_INPUT, "c") + f_bytes(N_OUTPUT, "y") + f_bytes(N_OP_TYPE, "If") + \
                key(N_ATTR, 2) + varint(attr_len)
            node_len = len(node_head) + attr_len
            graph_head = key(G_NODE, 2) + varint(node_len)
            prefixes += [node_head + attr_head, graph_head]
            inner_len = len(graph_head) + node_len
        return model_bytes(b"".join(reversed(prefixes)))

    s.write("nested_10000.onnx", nested(10000))
    s.info("nested_10000", "nested_10000.onnx", 3, r"messages nested more than 400 deep",
           "If inside If 10,000 deep (30,000 nested messages): protobuf-c recurses once per "
           "level and would overflow the stack; refused before it parses")
    s.case("nested_10000_compress", "{nnzip} compress {dir}/nested_10000.onnx -o {dir}/nested_10000.nnz",
           3, r"messages nested more than 400 deep", "the same through compress: no blob left behind")
    s.write("nested_100.onnx", nested(100))
    s.info("nested_100", "nested_100.onnx", 3, r"subgraphs nested more than 64 deep",
           "100 nested If graphs (300 messages: under the message limit) hit the subgraph "
           "limit of the loader, which walks subgraphs recursively")

    # -- a graph that refers to itself ------------------------------------------
    s.write("cycle.onnx", cycle_model().SerializeToString())
    s.info("cycle", "cycle.onnx", 0, "-",
           "y -> Relu -> z -> Add -> y and Identity(s) -> s: nnzip never executes or sorts "
           "the graph, so a cycle is not its business and must not make it loop")
    s.case("cycle_compress", "{nnzip} compress {dir}/cycle.onnx -o {dir}/cycle.nnz", 0,
           r"cycle\.onnx -> .*cycle\.nnz:", "compressing the cyclic graph works and terminates")

    # -- external data -------------------------------------------------------------
    s.write("outside.bin", bytes(64))  # what ../outside.bin would reach
    for cid, loc, off, why in (
            ("ext_past_eof", "weights.bin", 1000,
             "offset 1000 in a 64-byte data file: the range must be checked against the file"),
            ("ext_abs", "/etc/passwd", 0,
             "an absolute location: a model may only read files in its own folder"),
            ("ext_dotdot", "../outside.bin", 0,
             "a location that climbs out of the model's folder (the target exists)"),
            ("ext_symlink", "link.bin", 0,
             "a location inside the folder that is a symbolic link to /etc/passwd"),
            ("ext_missing", "missing.bin", 0,
             "a location naming a file that does not exist")):
        s.write("%s/model.onnx" % cid, external_model(loc, off))
        if cid == "ext_past_eof":
            s.write("%s/weights.bin" % cid, bytes(64))
        if cid == "ext_symlink":
            link = s.path("%s/link.bin" % cid)
            if os.path.lexists(link):
                os.remove(link)
            os.symlink("/etc/passwd", link)
        regex = {
            "ext_past_eof": r"tensor 'W': external data 'weights\.bin': bytes 1000\.\.1064 are past its end \(64 bytes\)",
            "ext_abs": r"tensor 'W': external data location '/etc/passwd' leaves the model's folder",
            "ext_dotdot": r"tensor 'W': external data location '\.\./outside\.bin' leaves the model's folder",
            "ext_symlink": r"tensor 'W': external data location 'link\.bin' resolves outside the model's folder",
            "ext_missing": r"tensor 'W': external data file 'missing\.bin': No such file or directory",
        }[cid]
        s.info(cid, "%s/model.onnx" % cid, 3, regex, why)
    s.case("ext_symlink_compress", "{nnzip} compress {dir}/ext_symlink/model.onnx -o {dir}/ext_symlink/out.nnz",
           3, r"resolves outside the model's folder",
           "compress must not copy /etc/passwd into a blob, and leaves no blob behind")

    # -- tensors ---------------------------------------------------------------------
    m = mlp_model()
    dup = copy.deepcopy(m.graph.initializer[0])
    m.graph.initializer.append(dup)
    s.write("init_twice.onnx", m.SerializeToString())
    s.info("init_twice", "init_twice.onnx", 3, r"graph 'mlp': tensor 'W1' is defined twice",
           "two initializers named W1 in one graph: which one a runtime would use is "
           "undefined, so the blob could not say which it stored")
    m = mlp_model()
    m.graph.initializer[1].float_data.extend([0.5] * 16)  # B1 keeps its raw_data too
    s.write("raw_and_float.onnx", m.SerializeToString())
    s.info("raw_and_float", "raw_and_float.onnx", 3,
           r"tensor 'B1' stores its data in more than one place",
           "raw_data and float_data both set: two different values for one tensor")

    # Two initializers named x~2 in one subgraph, after an earlier sibling
    # subgraph's tensor x was renamed x~2 internally (names are made unique
    # with a ~N suffix): the duplicate check must still see them.
    def init(name, v):
        return numpy_helper.from_array(np.full((4, 4), v, np.float32), name)

    def branch(name, inits, src):
        return helper.make_graph([helper.make_node("Identity", [src], ["o"])], name, [],
                                 [helper.make_tensor_value_info("o", TensorProto.FLOAT, [4, 4])],
                                 inits)
    nodes = [helper.make_node("If", ["c"], ["o1"], then_branch=branch("s1", [init("x", 1)], "x"),
                              else_branch=branch("e1", [], "x")),
             helper.make_node("If", ["c"], ["o2"],
                              then_branch=branch("s2", [init("x~2", 2), init("x~2", 3)], "x~2"),
                              else_branch=branch("e2", [], "x"))]
    g = helper.make_graph(nodes, "main", [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("o2", TensorProto.FLOAT, [4, 4])],
                          [init("x", 0)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    s.write("init_twice_subgraph.onnx", m.SerializeToString())
    s.info("init_twice_subgraph", "init_twice_subgraph.onnx", 3,
           r"graph 's2': tensor 'x~2' is defined twice",
           "KNOWN BUG (fails until fixed; nnzip exits 0): subgraph s2 defines x~2 twice, but "
           "an earlier subgraph's x was renamed x~2 internally and the duplicate check looks "
           "up the renamed names, so it misses the duplicate")

    # ModelProto.graph (a singular message) repeated 60,000 times, one empty
    # node each: protobuf merges repeated singular messages, and protobuf-c's
    # merge re-copies every repeated field each time, so the parse is
    # quadratic: 240 KB take ~4 s in the release build (~11 s under ASan),
    # 640 KB over 30 s. `timeout 5` turns the hang into a failure.
    occ = f_bytes(M_GRAPH, f_bytes(G_NODE, b""))
    s.write("graph_repeated.onnx", f_varint(M_IR_VERSION, IR_VERSION) + occ * 60000)
    s.case("graph_repeated", "timeout 5 {nnzip} info {dir}/graph_repeated.onnx", 3,
           r"graph_repeated\.onnx: not a valid ONNX model",
           "KNOWN BUG (fails until fixed; now a timeout): a 240 KB file with the singular graph "
           "field repeated 60,000 times; protobuf-c merges the repeats in quadratic time "
           "(640 KB: 32 s in the release build). ONNX writers never repeat a singular "
           "message, so the wire check should refuse it")

    # -- not a model at all -------------------------------------------------------------
    s.write("no_graph.onnx", model_bytes(None))
    s.info("no_graph", "no_graph.onnx", 3, r"not an ONNX model: it has no graph",
           "a valid ModelProto with ir_version and opsets but no graph")
    rng = np.random.default_rng(20240601)
    s.write("random.onnx", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    s.info("random", "random.onnx", 3, r"random\.onnx: not a valid ONNX model",
           "4 KiB of random bytes (fixed seed)")
    s.write("empty.onnx", b"")
    s.info("empty", "empty.onnx", 3, r"empty\.onnx: file is empty", "a 0-byte file")
    os.makedirs(s.path("a_directory.onnx"), exist_ok=True)
    s.info("directory", "a_directory.onnx", 3, r"a_directory\.onnx: is a directory",
           "a directory where a file is expected: refused as such, not read")

    # -- many empty messages ------------------------------------------------------------
    # 2 bytes per NodeProto (tag, length 0); protobuf-c allocates ~100+ bytes
    # for each. 3M nodes (6 MB) would be estimated under the 4x file + 512 MiB
    # limit, so use 7M (14 MB).
    n = 7_000_000
    s.write("nodes_7m.onnx", model_bytes(f_bytes(G_NAME, "g") + key(G_NODE, 2) + b"\x00" +
                                         (key(G_NODE, 2) + b"\x00") * (n - 1)))
    s.info("nodes_7m", "nodes_7m.onnx", 3,
           r"parsing would take about [0-9]+ MiB for a [0-9]+-byte file \(limit: 4x the file \+ 512 MiB\)",
           "7,000,000 empty NodeProtos in 14 MB: protobuf-c would allocate ~1 GB for them; "
           "the estimate is refused before unpacking")
    s.case("nodes_7m_compress", "{nnzip} compress {dir}/nodes_7m.onnx -o {dir}/nodes_7m.nnz", 3,
           r"parsing would take about", "the same through compress: no blob left behind")


def run_nnzip(nnzip, outdir, model_name, blob_name, extra=()):
    """Compress with the real nnzip. Run in OUTDIR with relative names so
    the blob's metadata (it records the source file's name) does not depend
    on OUTDIR."""
    r = subprocess.run([os.path.abspath(nnzip), "-q", "compress", "-f", model_name, "-o",
                        blob_name] + list(extra),
                       cwd=outdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("gen_hostile: %s compress failed (%d): %s" %
                 (nnzip, r.returncode, r.stderr.decode(errors="replace")))
    with open(os.path.join(outdir, blob_name), "rb") as f:
        return f.read()


def blob_cases(s, nnzip):
    s.write("blob_base.onnx", mlp_model().SerializeToString())
    base = run_nnzip(nnzip, s.dir, "blob_base.onnx", "blob_base.nnz")
    b0 = Blob(base)
    # our reading and writing of the format reproduces nnzip's bytes exactly
    assert bytes(b0.write()) == base, "gen_hostile's blob writer disagrees with nnzip's"
    assert [e["name"] for e in b0.entries] == [b"W1", b"B1", b"W2"], b0.entries

    def fresh():
        return copy.deepcopy(b0)

    def decompress(cid, name, code, regex, why):
        s.case(cid, "{nnzip} decompress {dir}/%s -o {dir}/%s.out.onnx" % (name, name[:-4]),
               code, regex, why)

    s.info("blob_base", "blob_base.nnz", 0, "-", "the unmodified blob the others derive from")
    decompress("blob_base_decompress", "blob_base.nnz", 0, r"blob_base\.nnz -> .*blob_base\.out\.onnx",
               "the unmodified blob decompresses (so each failure below is the mutation's)")

    # control: a consistent edit made by this script (W2's payload moved 64
    # bytes later, offsets and CRCs re-computed) is a valid blob, so what
    # fails below fails for the edit it is about, not for how it was made
    x = fresh().to_format1()
    e = x.entries[2]
    pay = x.section(SEC_PAYLOAD)
    x.set_section(SEC_PAYLOAD, pay[:e["payload_offset"]] + bytes(64) + pay[e["payload_offset"]:])
    e["payload_offset"] += 64
    s.write("b_control_moved.nnz", x.write())
    decompress("b_control_moved", "b_control_moved.nnz", 0,
               r"b_control_moved\.nnz -> .*b_control_moved\.out\.onnx",
               "control: W2's payload moved 64 bytes later with every offset and CRC fixed is "
               "still valid")

    # truncated after the header, in each region of the file
    regions = {}
    for i in range(4):
        typ, off, ln = table_entry(base, i)
        regions[{SEC_GRAPH: "graph", SEC_PAYLOAD: "payload", SEC_DIRECTORY: "directory",
                 SEC_METADATA: "metadata"}[typ]] = (off, ln)
    cuts = [("table", HEADER_SIZE + 40)] + [(k, off + ln // 2) for k, (off, ln) in regions.items()] + \
        [("last_byte", len(base) - 1)]
    for where, at in cuts:
        s.write("b_truncated_%s.nnz" % where, base[:at])
        decompress("b_truncated_%s" % where, "b_truncated_%s.nnz" % where, 3, r"blob is truncated",
                   "the blob cut at byte %d (in the %s): the header's file_size is past the end"
                   % (at, where.replace("_", " ")))
    s.info("b_truncated_info", "b_truncated_payload.nnz", 3, r"blob is truncated",
           "info reads the same header")

    # one bit flipped in each CRC-covered region
    flips = [("header", 20), ("table", HEADER_SIZE + 8)] + \
        [(k, off + ln // 2) for k, (off, ln) in regions.items()]
    for where, at in flips:
        b = bytearray(base)
        b[at] ^= 0x10
        s.write("b_bitflip_%s.nnz" % where, b)
        decompress("b_bitflip_%s" % where, "b_bitflip_%s.nnz" % where, 3, r"checksum mismatch",
                   "one bit flipped at byte %d, in the %s: only its CRC can tell" % (at, where))
    s.info("b_bitflip_payload_info", "b_bitflip_payload.nnz", 3, r"checksum mismatch",
           "info opens the blob with the payload CRC checked too")

    # a newer major version
    x = fresh()
    x.major, x.minor = 3, 0
    s.write("b_major2.nnz", x.write())
    decompress("b_major2", "b_major2.nnz", 3,
               r"format version 3\.0 is newer than this nnzip reads \(2\.x and older\)",
               "format_major 3 with a correct header CRC: refused, naming both versions")
    s.info("b_major2_info", "b_major2.nnz", 3, r"format version 3\.0 is newer than this nnzip reads \(2\.x",
           "the same through info")

    # sections overlap: the graph section is stretched 16 bytes into the payload
    b = fresh().write()
    gi, pi = section_index(b, SEC_GRAPH), section_index(b, SEC_PAYLOAD)
    _, goff, _ = table_entry(b, gi)
    _, poff, _ = table_entry(b, pi)
    set_table_entry(b, gi, ln=poff + 16 - goff)
    s.write("b_overlap.nnz", reseal(b))
    decompress("b_overlap", "b_overlap.nnz", 3, r"blob is malformed.*in section [0-9]+",
               "the graph section runs 16 bytes into the payload section (CRCs fixed)")
    s.info("b_overlap_info", "b_overlap.nnz", 3, r"blob is malformed.*in section [0-9]+", "the same through info")

    # a section past the end of the file
    b = fresh().write()
    mi = section_index(b, SEC_METADATA)
    set_table_entry(b, mi, off=len(b) + 64)
    s.write("b_section_past_eof.nnz", reseal(b))
    decompress("b_section_past_eof", "b_section_past_eof.nnz", 3, r"blob is truncated",
               "the metadata section starts 64 bytes after the end of the file")
    b = fresh().write()
    set_table_entry(b, mi, ln=(1 << 64) - 1)
    s.write("b_section_len_wrap.nnz", reseal(b))
    decompress("b_section_len_wrap", "b_section_len_wrap.nnz", 3, r"blob is truncated",
               "a section length of 2^64-1: offset + length wraps 64 bits, and must not "
               "pass the bounds check")

    # payload section not at a multiple of 64 (everything else consistent)
    s.write("b_payload_misaligned.nnz", fresh().write(payload_shift=1))
    decompress("b_payload_misaligned", "b_payload_misaligned.nnz", 3, r"blob is malformed.*in section [0-9]+",
               "the payload section 1 byte past a multiple of 64: devices map weights in place "
               "and rely on the alignment")

    # a tensor's payload not at a multiple of 64: its bytes really moved by 4
    x = fresh().to_format1()  # (format 2 derives W2's offset from W1's end)
    e = x.entries[2]
    pay = x.section(SEC_PAYLOAD)
    x.set_section(SEC_PAYLOAD, pay[:e["payload_offset"]] + bytes(4) + pay[e["payload_offset"]:])
    e["payload_offset"] += 4
    s.write("b_tensor_misaligned.nnz", x.write())
    decompress("b_tensor_misaligned", "b_tensor_misaligned.nnz", 3, r"blob is malformed.*in the directory entry of tensor [0-9]+",
               "W2's payload_offset 4 bytes past a multiple of 64 (its bytes moved there)")

    # a tensor's payload past the end of the payload section
    x = fresh().to_format1()
    x.entries[2]["payload_offset"] += 64
    s.write("b_tensor_past_payload.nnz", x.write())
    decompress("b_tensor_past_payload", "b_tensor_past_payload.nnz", 3, r"blob is malformed.*in the directory entry of tensor [0-9]+",
               "W2's payload starts 64 bytes later, so it ends 64 bytes past its section")

    # dims product overflow in a directory entry
    x = fresh()
    x.entries[0]["dims"] = [2 ** 32, 2 ** 32, 2]
    s.write("b_dims_overflow.nnz", x.write())
    decompress("b_dims_overflow", "b_dims_overflow.nnz", 3, r"a size in the blob overflows",
               "W1's dims [2^32, 2^32, 2]: the element count wraps 64 bits")
    s.info("b_dims_overflow_info", "b_dims_overflow.nnz", 3, r"a size in the blob overflows",
           "every entry is checked at open, info included")
    x = fresh()
    x.entries[0]["dims"] = [2 ** 62]
    s.write("b_size_overflow.nnz", x.write())
    decompress("b_size_overflow", "b_size_overflow.nnz", 3, r"a size in the blob overflows",
               "W1's dims [2^62] of float: the count fits, count x 4 bytes wraps")

    # graph_offset moved off the raw_data header
    x = fresh()
    x.entries[0]["graph_offset"] += 1
    s.write("b_graph_offset_moved.nnz", x.write())
    decompress("b_graph_offset_moved", "b_graph_offset_moved.nnz", 3, r"blob is malformed.*in the directory entry of tensor [0-9]+",
               "W1's hole moved 1 byte: the bytes before it are no longer 0x4A varint(1024)")

    # the graph has a hole the directory does not know about
    x = fresh()
    x.entries.pop()
    s.write("b_missing_entry.nnz", x.write())
    decompress("b_missing_entry", "b_missing_entry.nnz", 3,
               r"does not load back, so it was not published",
               "W2's entry removed (count, offsets, CRCs all fixed): the blob opens, but the "
               "rebuilt model lacks W2's 512 bytes; decompress must not write it")

    # an unknown encoding
    x = fresh()
    x.entries[1]["encoding"] = 0x7E
    s.write("b_unknown_encoding.nnz", x.write())
    decompress("b_unknown_encoding", "b_unknown_encoding.nnz", 3,
               r"a tensor uses an encoding this nnzip does not know",
               "B1 uses encoding 126, which no reader knows: that tensor cannot be decoded")
    s.info("b_unknown_encoding_info", "b_unknown_encoding.nnz", 0, "-",
           "the blob still opens and info describes it (a newer minor version may add encodings)")

    # a directory count that cannot fit its section
    x = fresh()
    d = bytearray(x.directory_bytes())
    struct.pack_into("<I", d, 0, 0xFFFFFFFF)
    x.directory_bytes = lambda: bytes(d)
    s.write("b_count_huge.nnz", x.write())
    decompress("b_count_huge", "b_count_huge.nnz", 3, r"blob is malformed.*in the directory",
               "a directory count of 2^32-1 whose offsets cannot fit the section")

    # decompress publishes only a model that nnzip's own loader accepts
    # (format 1.2's layout: its entry keeps W1's dims; format 2 takes them
    # from the graph, below)
    x = fresh().to_format1()
    g = x.section(SEC_GRAPH)
    dims = b"\x08\x10\x08\x10\x10\x01\x42\x02W1"  # W1: dims 16, 16, float, name
    assert g.count(dims) == 1, "W1's TensorProto header not found in the graph section"
    x.set_section(SEC_GRAPH, g.replace(dims, b"\x08\x10\x08\x11" + dims[4:]))
    s.write("b_graph_dims_edited.nnz", x.write())
    decompress("b_graph_dims_edited", "b_graph_dims_edited.nnz", 3,
               r"does not load back, so it was not published.*W1",
               "W1's dims in the graph edited to [16, 17] while the directory still decodes "
               "256 values: the runtime rebuilds it, nnzip's loader refuses it, nothing lands")
    x = fresh()
    x.set_section(SEC_GRAPH, g.replace(dims, b"\x08\x10\x08\x11" + dims[4:]))
    s.write("b_graph_dims_edited2.nnz", x.write())
    decompress("b_graph_dims_edited2", "b_graph_dims_edited2.nnz", 3,
               r"blob is malformed.*in the directory entry of tensor 0",
               "the same edit in format 2, whose entry takes W1's name, type and shape from "
               "those graph fields: 16 x 17 floats disagree with the raw_data header's 1024 "
               "bytes, refused at open")
    x = fresh()
    x.entries = []
    x.set_section(SEC_GRAPH, b"")
    s.write("b_graph_empty.nnz", x.write())
    decompress("b_graph_empty", "b_graph_empty.nnz", 3, r"the model written is empty",
               "an empty graph section and no tensors: the rebuilt model would be 0 bytes")

    # the blob records an external data file name: information only. The
    # data file is always named after the output, so a blob cannot choose
    # a file to overwrite (here: victim_file_1.txt beside the output).
    s.write("ext_src.onnx", mlp_model().SerializeToString())
    # (the graph stored, so that its bytes can be edited here)
    x = Blob(run_nnzip(nnzip, s.dir, "ext_src.onnx", "b_ext.nnz", ["--external-data", "--graph", "raw"]))
    assert any(e["location"] & 0x40 for e in x.entries), "no external tensor in b_ext.nnz"
    for typ in (SEC_GRAPH, SEC_METADATA):
        body = x.section(typ)
        assert b"ext_src.onnx.data" in body
        x.set_section(typ, body.replace(b"ext_src.onnx.data", b"victim_file_1.txt"))
    s.write("b_ext_victim.nnz", x.write())
    v = "{dir}/victim"
    s.case("b_ext_victim",
           "mkdir -p %s && printf keep >%s/victim_file_1.txt && "
           "{nnzip} decompress {dir}/b_ext_victim.nnz -o %s/model.onnx && "
           "test \"$(cat %s/victim_file_1.txt)\" = keep && test -s %s/model.onnx.data && "
           "{nnzip} info %s/model.onnx" % (v, v, v, v, v, v), 0, "-",
           "the blob names victim_file_1.txt as its data file (graph and metadata, CRCs "
           "fixed): decompress writes model.onnx.data, the victim keeps its bytes, and the "
           "model it wrote loads")

    decode_limit_cases(s, nnzip, b0, decompress)
    shared_table_cases(s, nnzip, decompress)
    lying_field_cases(s, b0)


def shared_model():
    """X[1,64] -> MatMul W1[64,64] -> Add B1[64] -> MatMul W2[64,64] -> Y:
    two weights of one distribution, which `quantize:bits=8 | huffman`
    codes with one Huffman table (W2 uses W1's: stream coding 5 or 6)."""
    rng = np.random.RandomState(7)
    w1 = rng.normal(0, 0.1, (64, 64)).astype(np.float32)
    b1 = weights((64,), 0.2)
    return mlp_of("shared", w1, b1, rng.normal(0, 0.1, (64, 64)).astype(np.float32))


def shared_table_cases(s, nnzip, decompress):
    """Shared Huffman tables (docs/FORMAT.md, codings 5 and 6): W2's stream
    names the entry whose table it uses (the varint after its descriptor,
    the last bytes of its parameters). Each edit below must be refused at
    open: a reference to itself, to a raw entry, past the directory, a
    table over another width, a chain (the owner sharing in turn), the
    coding in a version before 6; a later version opens and fails alone."""
    s.write("shared.onnx", shared_model().SerializeToString())
    base = run_nnzip(nnzip, s.dir, "shared.onnx", "shared.nnz", ["-p", "quantize:bits=8|huffman"])
    b0 = Blob(base)
    assert bytes(b0.write()) == base, "gen_hostile's blob writer disagrees with nnzip's (shared)"
    names = [e["name"] for e in b0.entries]
    w1, b1, w2 = names.index(b"W1"), names.index(b"B1"), names.index(b"W2")
    e2 = b0.entries[w2]
    desc, owner = e2["params"][-2], e2["params"][-1]
    assert e2["encoding_version"] == 6 and desc & 7 in (5, 6) and owner == w1, \
        "W2 does not use W1's table: %r" % (e2,)
    decompress("s_base", "shared.nnz", 0, r"shared\.nnz -> ",
               "control: W2 coded with W1's table decompresses")

    def edit(cid, why, changes, code=3,
             regex=r"blob is malformed.*in the directory entry of tensor [0-9]+"):
        x = copy.deepcopy(b0)
        for (i, field), v in changes.items():
            x.entries[i][field] = v
        s.write(cid + ".nnz", x.write())
        decompress(cid, cid + ".nnz", code, regex, why)

    p2 = e2["params"][:-1]
    edit("s_owner_self", "W2's table is its own entry's: an owner shares no table (no cycle)",
         {(w2, "params"): p2 + bytes([w2])})
    edit("s_owner_raw", "W2's table is B1's, a raw entry with no table",
         {(w2, "params"): p2 + bytes([b1])})
    edit("s_owner_missing", "W2's table is entry 100's, past the directory's 3",
         {(w2, "params"): p2 + bytes([100])})
    edit("s_width", "W2 says 7-bit symbols, W1's table is over 8: another alphabet",
         {(w2, "params"): e2["params"][:-2] + bytes([(desc & 7) | 6 << 3, owner])})
    e1 = b0.entries[w1]
    edit("s_chain", "W1, whose table W2 uses, itself uses W2's: a chain and a cycle",
         {(w1, "params"): e1["params"][:-1] + bytes([5 | (e1["params"][-1] & ~7), w2]),
          (w1, "encoding_version"): 6})
    edit("s_version_5", "codings 5 and 6 came with encoding version 6: in version 5 they are "
         "malformed", {(w2, "encoding_version"): 5})
    edit("s_version_7", "a version after 6 opens; only W2 fails, as a tensor of an encoding "
         "this reader does not know", {(w2, "encoding_version"): 7},
         regex=r"a tensor uses an encoding this nnzip does not know")


def set_decoded_size(x, i, size):
    """Make entry i's hole in the graph say `size` bytes (the raw_data
    header before it, 0x4A varint(size)), moving the later holes: the
    directory and the graph then agree on the size, as they must at open."""
    e = x.entries[i]
    g = x.section(SEC_GRAPH)
    es = {1: 4, 10: 2, 16: 2}[e["dtype"]]
    cur = es * int(np.prod(e["dims"])) if e["dims"] else es
    old = b"\x4a" + varint(cur)
    at = e["graph_offset"]
    assert g[at - len(old):at] == old, "entry %d's hole is not where its header says" % i
    new = b"\x4a" + varint(size)
    x.set_section(SEC_GRAPH, g[:at - len(old)] + new + g[at:])
    delta = len(new) - len(old)
    for f in x.entries:
        if not f["location"] & 0x40 and f["graph_offset"] >= at:
            f["graph_offset"] += delta


def coded_params(kind, layout, width, length):
    """Params of a dense (layout b"") or hashed tensor with one Huffman
    stream (coding 1) of `width` bits and `length` bytes, blocks of all."""
    return bytes([kind, 0]) + layout + bytes([1, width]) + varint(length)


def decode_limit_cases(s, nnzip, b0, decompress):
    """Blobs of a few hundred bytes, checksums valid, whose directory
    declares what no decoder should allocate or write: refused with the
    limit named, before any allocation or output (tests/suite/60-hostile.sh
    also runs these under `ulimit -v`)."""
    # one Huffman symbol (maxlen 0: no data bits) for every element of a
    # one-block dense tensor: 3 bytes of payload decode to any size
    one_symbol = bytes([0, 0x3c, 0x00])  # the half 1.0
    def lying(name, dims, encoding, params, payload=one_symbol):
        x = copy.deepcopy(b0).to_format1()  # (later payloads keep their offsets)
        e = x.entries[0]  # W1, float
        pay = x.section(SEC_PAYLOAD)
        x.set_section(SEC_PAYLOAD, pay[:e["payload_offset"]] + payload +
                      bytes(e["payload_length"] - len(payload)) + pay[e["payload_offset"] +
                                                                    e["payload_length"]:])
        # the old bytes stay as padding: later payloads do not move
        e["payload_length"] = len(payload)
        size = 4 * int(np.prod(dims))
        set_decoded_size(x, 0, size)
        e["dims"], e["encoding"], e["encoding_version"], e["params"] = dims, encoding, 1, params
        s.write(name, x.write())

    dense = coded_params(1, b"", 16, len(one_symbol))
    lying("b_limit_one_symbol_2g.nnz", [2 ** 29 + 16], 1, dense)
    decompress("b_limit_one_symbol_2g", "b_limit_one_symbol_2g.nnz", 3,
               r"the rebuilt model would be [0-9]+ bytes, past protobuf's 2147483647-byte limit",
               "W1 declared [2^29+16] floats, one block, every element the one Huffman symbol: "
               "3 payload bytes for 2 GiB of model, past what protobuf can hold")
    lying("b_limit_one_symbol_64g.nnz", [2 ** 34 + 16], 1, dense)
    decompress("b_limit_one_symbol_64g", "b_limit_one_symbol_64g.nnz", 3,
               r"tensor 'W1' declares 68719476800 decoded bytes, over the 68719476736-byte "
               r"tensor limit",
               "the same tensor declared just over 64 GiB: the tensor limit, before any memory "
               "or output")
    # hashed: K bucket symbols shared by any number of elements
    def hashed(k):
        return coded_params(1, varint(k) + struct.pack("<I", 7) + b"\x01", 16, len(one_symbol))
    for tib, dims in (("1t", [2 ** 38]), ("4t", [2 ** 40])):
        name = "b_limit_hashed_%s" % tib
        lying(name + ".nnz", dims, 3, hashed(2 ** 20))
        decompress(name, name + ".nnz", 3,
                   r"tensor 'W1' declares %d decoded bytes, over the 68719476736-byte tensor "
                   r"limit" % (4 * dims[0]),
                   "a hashed W1 of 2^20 buckets declared %s TiB: refused by the tensor limit "
                   "(it was exit 5 'out of memory', an abort under ASan)" % tib[0])
    lying("b_limit_hashed_work.nnz", [2 ** 33], 3, hashed(2 ** 32))
    decompress("b_limit_hashed_work", "b_limit_hashed_work.nnz", 3,
               r"tensor 'W1' needs [0-9]+ bytes of work memory to decode, over the "
               r"1073741824-byte limit",
               "a hashed W1 of 2^32 Huffman-coded buckets: 16 GiB of bucket symbols to decode "
               "first, over the work limit")
    # a lossless hashed tensor: K = count, small and valid, decodes fine
    lying("b_limit_control.nnz", [16, 16], 3, hashed(256))
    decompress("b_limit_control", "b_limit_control.nnz", 0,
               r"b_limit_control\.nnz -> .*b_limit_control\.out\.onnx",
               "control: the same edit at W1's own size (256 floats, 256 buckets) decompresses")

    # external data: tensors packed in their file, so a graph offset of
    # 2^40 is a malformed blob (it made decompress write zeros toward it)
    ext = run_nnzip(nnzip, s.dir, "blob_base.onnx", "blob_ext.nnz", ["--external-data"])
    x = Blob(ext)
    ext_entries = [e for e in x.entries if e["location"] & 0x40]
    assert ext_entries, "compress --external-data made no external tensor"
    ext_entries[0]["graph_offset"] = 2 ** 40
    s.write("b_limit_external_2p40.nnz", x.write())
    decompress("b_limit_external_2p40", "b_limit_external_2p40.nnz", 3,
               r"blob is malformed.*in the directory entry of tensor [0-9]+",
               "an external tensor at offset 2^40 of its data file: external tensors are packed "
               "(each within 4096 bytes of the previous one's end), so the blob is invalid")
    # the edge: a gap of 4095 bytes before the first external tensor is
    # valid, 4096 is not
    for gap, code, regex in ((4095, 0, r"b_limit_external_gap4095\.nnz -> "),
                             (4096, 3, r"blob is malformed.*in the directory entry of tensor")):
        x = Blob(ext)
        e = [e for e in x.entries if e["location"] & 0x40][0]
        assert e["graph_offset"] == 0
        e["graph_offset"] = gap
        s.write("b_limit_external_gap%d.nnz" % gap, x.write())
        decompress("b_limit_external_gap%d" % gap, "b_limit_external_gap%d.nnz" % gap, code, regex,
                   "the first external tensor %d bytes into its file: %s" %
                   (gap, "valid (a gap under 4096)" if code == 0 else "one byte too far"))


def relu_model():
    """X[1,16] -> MatMul W1[16,16] -> Relu -> MatMul W2[16,8] -> Y."""
    inits = [numpy_helper.from_array(weights((16, 16), 0.1), "W1"),
             numpy_helper.from_array(weights((16, 8), 0.3), "W2")]
    nodes = [helper.make_node("MatMul", ["X", "W1"], ["h"]),
             helper.make_node("Relu", ["h"], ["a"]),
             helper.make_node("MatMul", ["a", "W2"], ["Y"])]
    g = helper.make_graph(nodes, "relu",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 8])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="gen_hostile")
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m)
    return m


def verify_cases(s, nnzip):
    """verify compares the blob's graph with the model's unless the blob's
    metadata says a pass rewrote it ("graph_rewritten", from the passes'
    own flag); no word in the pipeline's text turns the check off."""
    s.write("v_relu.onnx", relu_model().SerializeToString())

    def verify(cid, name, code, regex, why):
        s.case(cid, "{nnzip} verify {dir}/v_relu.onnx {dir}/%s" % name, code, regex, why)

    def tanh(blob, pipeline=None):
        x = Blob(blob)
        g = x.section(SEC_GRAPH)
        assert g.count(b"Relu") == 1
        x.set_section(SEC_GRAPH, g.replace(b"Relu", b"Tanh"))
        if pipeline is not None:
            meta = json.loads(x.section(SEC_METADATA))
            meta["pipeline"] = pipeline
            x.set_section(SEC_METADATA, json.dumps(meta, separators=(",", ":")).encode())
        return x.write()

    # (the graph stored, so that its bytes can be edited here; the same
    # check of a compressed graph: gz_verify_tanh)
    base = run_nnzip(nnzip, s.dir, "v_relu.onnx", "v_base.nnz",
                     ["-p", "quantize:bits=8", "--graph", "raw"])
    assert json.loads(Blob(base).section(SEC_METADATA))["graph_rewritten"] is False
    verify("v_base", "v_base.nnz", 0, r"verify .*v_base\.nnz: OK",
           "control: the blob of this model verifies against it")
    s.write("v_tanh.nnz", tanh(base))
    verify("v_tanh", "v_tanh.nnz", 1, r"graph differs from the model's graph",
           "the blob's graph edited (Relu -> Tanh, checksums redone): verify fails")
    s.write("v_tanh_word.nnz", tanh(base, "quantize:bits=8 | decompose"))
    verify("v_tanh_word", "v_tanh_word.nnz", 1, r"graph differs from the model's graph",
           "the same with 'decompose' written into the metadata's pipeline text: still fails "
           "(it passed with exit 0 when verify searched the text for the word)")
    glob = run_nnzip(nnzip, s.dir, "v_relu.onnx", "v_glob.nnz",
                     ["-p", "quantize:bits=8,skip=decompose*", "--graph", "raw"])
    s.write("v_tanh_glob.nnz", tanh(glob))
    verify("v_tanh_glob", "v_tanh_glob.nnz", 1, r"graph differs from the model's graph",
           "a real pipeline whose skip= glob holds the word (quantize:bits=8,skip=decompose*), "
           "graph edited: fails")


def write_any(x):
    """x's bytes in its own format, or in format 1.2's layout when format 2
    cannot hold the edit (a graph offset below the one before, a payload
    offset its run derives, a version past 15)."""
    try:
        return x.write()
    except (AssertionError, ValueError):
        return x.to_format1().write()


def lying_field_cases(s, b0):
    """A generator of blobs with valid checksums and lying directory
    fields: every field of every entry of blob_base set to values at and
    past its bounds, each blob resealed. The outcome of each is not
    predicted here: tests/suite/60-hostile.sh requires exit 0 with an
    output `info` accepts, or exit 3 with a message, and no sanitizer
    report, no hang, no output or temporary file left on failure."""
    lies = {
        "dims": [[0], [1], [2 ** 31], [2 ** 32 + 1], [2 ** 40], [16, 17], [4, 4, 4, 4, 4, 4],
                 [2 ** 21, 2 ** 21]],
        "dtype": [0, 2, 7, 8, 11, 15, 16, 21, 255],
        "location": [1, 0x3F, 0x40, 0x80, 0xC1, 0xFF],
        "graph_offset": [0, 1, -1, 2 ** 32, 2 ** 63],
        "payload_offset": [0, 64, -64, 2 ** 40],
        "payload_length": [0, 1, -1, 2 ** 40],
        "encoding": [1, 2, 3, 4, 255],
        "encoding_version": [0, 2, 3, 255],
    }
    lines = []
    for i, e0 in enumerate(b0.entries):
        for field, values in lies.items():
            for k, v in enumerate(values):
                x = copy.deepcopy(b0)
                e = x.entries[i]
                if isinstance(v, int) and v < 0:
                    v = e[field] + v  # just below what it was
                    if v < 0:
                        continue
                e[field] = v
                name = "l_%s_%s_%d" % (e0["name"].decode(), field, k)
                s.write(name + ".nnz", write_any(x))
                lines.append((name, "{nnzip} decompress {dir}/%s.nnz -o {dir}/%s.out.onnx" %
                              (name, name)))
        # the coded encodings' parameters: every value kind and block size
        for kind in range(7):
            for enc in (1, 2, 3):
                x = copy.deepcopy(b0)
                e = x.entries[i]
                e["encoding"], e["encoding_version"] = enc, 1
                e["params"] = bytes([kind, 0 if enc == 3 else 16, 1, 8]) + varint(e["payload_length"])
                name = "l_%s_params_%d_%d" % (e0["name"].decode(), enc, kind)
                s.write(name + ".nnz", x.write())
                lines.append((name, "{nnzip} decompress {dir}/%s.nnz -o {dir}/%s.out.onnx" %
                              (name, name)))
    with open(s.path("lying.tsv"), "w") as f:
        for l in lines:
            f.write("\t".join(l) + "\n")


# ---------------------------------------------------------------------------
# The compressed graph section (docs/FORMAT.md, format 2.1)
# ---------------------------------------------------------------------------

def named_model():
    """Twelve 16x8 weights with long exporter-style names, each read by a
    MatMul whose node name and output repeat them, and a 3-element scale
    (a tensor a stored graph would hold): a graph that compresses."""
    inits, nodes, prev = [], [], "X"
    for k in range(12):
        stem = "model/encoder/layer_%d/attention/output/dense" % k
        inits.append(numpy_helper.from_array(weights((8, 8), 0.1 * k), stem + "/kernel"))
        nodes.append(helper.make_node("MatMul", [prev, stem + "/kernel"], [stem + "/MatMul:0"],
                                      name=stem + "/MatMul"))
        prev = stem + "/MatMul:0"
    inits.append(numpy_helper.from_array(np.array([0.5, 0.25, 2.0], np.float32)[:1].repeat(8),
                                         "model/encoder/final/scale"))
    inits.append(numpy_helper.from_array(np.array([1.5, -2.0, 0.25], np.float32),
                                         "model/encoder/final/tiny"))
    nodes.append(helper.make_node("Mul", [prev, "model/encoder/final/scale"], ["Y"],
                                  name="model/encoder/final/Mul"))
    nodes.append(helper.make_node("Identity", ["model/encoder/final/tiny"], ["T"],
                                  name="model/encoder/final/Identity"))
    g = helper.make_graph(nodes, "named",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 8]),
                           helper.make_tensor_value_info("T", TensorProto.FLOAT, [3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="gen_hostile")
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m)
    return m


def packed_literals(graph, raw_size=None):
    """A compressed graph section of this script's own making: every byte a
    literal, both streams packed (9 and 6 bits a symbol), no extra bits."""
    return pack_tokens([("lit", c) for c in graph], len(graph) if raw_size is None else raw_size)


def pack_tokens(tokens, raw_size, version=1):
    """The section for tokens ("lit", byte) or ("match", length symbol,
    distance symbol, extra bits as a string of 0/1), both streams packed."""
    lbits, dbits, xbits = [], [], []
    for t in tokens:
        if t[0] == "lit":
            lbits.append(format(t[1], "09b"))
        else:
            lbits.append(format(256 + t[1], "09b"))
            dbits.append(format(t[2], "06b"))
            xbits.append(t[3])

    def to_bytes(bits):
        bits = "".join(bits)
        bits += "0" * (-len(bits) % 8)
        return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    L, D, X = to_bytes(lbits), to_bytes(dbits), to_bytes(xbits)
    return (varint(raw_size) + bytes([version]) + bytes([0]) + varint(len(L)) + L +
            bytes([0]) + varint(len(D)) + D + X)


def value_code(v):
    """A length or distance value as its code and extra-bit count: 0..3 as
    they are, else v = (2 + c % 2) << n plus n bits, n = c // 2 - 1."""
    if v < 4:
        return v, 0
    n = v.bit_length() - 2
    return 2 * (n + 1) + (v >> n & 1), n


def graph_codec_cases(s, nnzip):
    s.write("gz_base.onnx", named_model().SerializeToString())
    base = run_nnzip(nnzip, s.dir, "gz_base.onnx", "gz_base.nnz")
    b0 = Blob(base)
    assert b0.minor == 1 and [t for t, _ in b0.sections].count(SEC_GRAPH_PACKED) == 1 and \
        SEC_GRAPH not in [t for t, _ in b0.sections], "nnzip did not compress gz_base's graph"
    assert all(not e.get("described") and e["encoding"] != 4 for e in b0.entries), b0.entries
    assert any(e["encoding"] == 6 for e in b0.entries), "no inline tensor in gz_base"
    raw = run_nnzip(nnzip, s.dir, "gz_base.onnx", "gz_raw.nnz", ("--graph", "raw"))
    assert SEC_GRAPH in [t for t, _ in Blob(raw).sections]

    def decompress(cid, name, code, regex, why):
        s.case(cid, "{nnzip} decompress {dir}/%s -o {dir}/%s.out.onnx" % (name, name[:-4]),
               code, regex, why)

    def with_section(body, extra=None):
        x = copy.deepcopy(b0)
        x.set_section(SEC_GRAPH_PACKED, body)
        if extra:
            x.sections.insert(0, extra)
        return x.write()

    s.info("gz_base", "gz_base.nnz", 0, "-", "a blob whose graph nnzip compressed")
    decompress("gz_base_decompress", "gz_base.nnz", 0, r"gz_base\.nnz -> ",
               "it decompresses (so each failure below is its mutation's)")
    s.case("gz_base_same_model",
           "{nnzip} -q decompress {dir}/gz_base.nnz -o {dir}/gz_a.onnx && "
           "{nnzip} -q decompress {dir}/gz_raw.nnz -o {dir}/gz_b.onnx && cmp {dir}/gz_a.onnx {dir}/gz_b.onnx",
           0, "-", "the blob with the compressed graph and the one with it stored (--graph raw) "
           "decompress to the same bytes")

    # the expanded graph: the model nnzip rebuilds with each tensor's bytes
    # cut out where the directory says (no entry is in-graph)
    model = subprocess.run([os.path.abspath(nnzip), "-q", "decompress", "-f", "gz_base.nnz",
                            "-o", "gz_model.onnx"], cwd=s.dir).returncode
    assert model == 0
    with open(s.path("gz_model.onnx"), "rb") as f:
        full = f.read()
    graph, holes = bytearray(), []
    for e in sorted(b0.entries, key=lambda e: e["graph_offset"]):
        size = ELEM_SIZE[e["dtype"]]
        for d in e["dims"]:
            size *= d
        holes.append((e["graph_offset"], size))
    pos = 0  # rebuild the cut graph: model bytes minus each tensor's bytes
    shift = 0
    for go, size in holes:
        graph += full[pos:go + shift]
        pos = go + shift + size
        shift += size
    graph += full[pos:]
    graph = bytes(graph)
    n = len(graph)

    # an independent writer's section (literals only, packed) is read the same
    s.write("gz_literals.nnz", with_section(packed_literals(graph)))
    s.case("gz_literals", "{nnzip} -q decompress {dir}/gz_literals.nnz -o {dir}/gz_lit.onnx && "
           "cmp {dir}/gz_lit.onnx {dir}/gz_model.onnx", 0, "-",
           "this script's own compressed graph (every byte a literal, packed streams) rebuilds "
           "the same model: the section is read as docs/FORMAT.md says")
    # ... and so is one with a match: the first 3 bytes seen before, at a
    # distance whose code has extra bits
    i = next(i for i in range(3, n - 3) if graph.find(graph[i:i + 3]) + 8 < i)
    d = i - graph.find(graph[i:i + 3])
    c, nx = value_code(d - 1)
    extra = format((d - 1) & ((1 << nx) - 1), "0%db" % nx) if nx else ""
    toks = [("lit", ch) for ch in graph[:i]] + [("match", 0, 1 + c, extra)] + \
        [("lit", ch) for ch in graph[i + 3:]]
    s.write("gz_match.nnz", with_section(pack_tokens(toks, n)))
    s.case("gz_match", "{nnzip} -q decompress {dir}/gz_match.nnz -o {dir}/gz_m.onnx && "
           "cmp {dir}/gz_m.onnx {dir}/gz_model.onnx", 0, "-",
           "this script's section with a match of distance %d (code %d, %d extra bits) "
           "rebuilds the same model" % (d, c, nx))

    bad = r"blob is malformed"
    cases = [
        ("gz_raw_size_zero", packed_literals(graph, 0), "open",
         "an expanded size of 0 (1..2^31 - 1)"),
        ("gz_raw_size_2g", packed_literals(graph, 1 << 31), "open",
         "an expanded size of 2^31, past the format's bound"),
        ("gz_raw_size_plus1", packed_literals(graph, n + 1), "expand",
         "an expanded size one byte more than the streams give: the literal stream is read "
         "past its end"),
        ("gz_raw_size_minus1", packed_literals(graph, n - 1), "expand",
         "an expanded size one byte less: the output ends with a literal left unread (the "
         "model would lose its last byte)"),
        ("gz_match_before_start", pack_tokens([("match", 0, 1, "")] +
                                              [("lit", c) for c in graph[3:]], n), "expand",
         "a match at the start, distance 1 with nothing out yet"),
        ("gz_match_past_end", pack_tokens([("lit", c) for c in graph[:-2]] +
                                          [("match", 0, 1, "")], n), "expand",
         "a match of 3 bytes where 2 are left of the declared size"),
        ("gz_length_code_60", pack_tokens([("lit", c) for c in graph[:10]] +
                                          [("match", 60, 1, "")], n), "expand",
         "length code 60 (at most 59)"),
        ("gz_distance_code_61", pack_tokens([("lit", c) for c in graph[:10]] +
                                            [("match", 0, 62, "")], n), "expand",
         "distance symbol 62, code 61 (at most 60, code 59)"),
        ("gz_stream_past_section", packed_literals(graph)[:-5], "expand",
         "the literal stream's length says more bytes than the section has"),
    ]
    for cid, body, when, why in cases:
        s.write(cid + ".nnz", with_section(body))
        if when == "open":
            s.info(cid, cid + ".nnz", 3, bad, why + ": refused at open")
        else:
            decompress(cid, cid + ".nnz", 3, bad, why + ": refused when the graph is expanded")
    # verify compares the expanded graph with the model's
    g2 = graph.replace(b"model/encoder/final/Mul", b"model/encoder/final/Div")
    g2 = g2.replace(b"\x22\x03Mul", b"\x22\x03Div")
    assert g2 != graph and len(g2) == n
    s.write("gz_verify_div.nnz", with_section(packed_literals(g2)))
    s.case("gz_verify_div", "{nnzip} verify {dir}/gz_base.onnx {dir}/gz_verify_div.nnz", 1,
           r"graph differs from the model.s graph", "verify expands a compressed graph and finds that it differs from the "
           "model's (Mul made Div)")
    s.case("gz_verify_base", "{nnzip} verify {dir}/gz_base.onnx {dir}/gz_base.nnz", 0,
           r"OK", "control: the unmodified blob verifies")
    # a hole's raw_data header the graph does not have: the tie between the
    # directory and the graph is checked after expanding
    e = max(b0.entries, key=lambda e: e["graph_offset"])
    size = ELEM_SIZE[e["dtype"]] * int(np.prod(e["dims"]))
    hdr = e["graph_offset"] - 1 - len(varint(size))
    assert graph[hdr] == 0x4A
    g2 = bytearray(graph)
    g2[hdr] = 0x4B
    s.write("gz_hole_header.nnz", with_section(packed_literals(bytes(g2))))
    decompress("gz_hole_header", "gz_hole_header.nnz", 3, bad,
               "the expanded graph lacks the raw_data header before a hole")
    # an inline tensor (encoding 6, its bytes in its entry) whose bytes are
    # one short of its shape's size
    x = copy.deepcopy(b0)
    e = next(e for e in x.entries if e["encoding"] == 6)
    e["params"] = e["params"][:-1]
    s.write("gz_inline_short.nnz", x.write())
    s.info("gz_inline_short", "gz_inline_short.nnz", 3, bad,
           "an inline tensor with one byte fewer than its shape says")
    # an unknown version: the blob opens, the graph does not expand
    s.write("gz_version2.nnz", with_section(pack_tokens([("lit", c) for c in graph], n, 2)))
    s.info("gz_version2_info", "gz_version2.nnz", 0, "-",
           "a compressed graph of version 2: the blob opens (tensors decode without the graph)")
    decompress("gz_version2", "gz_version2.nnz", 3, r"cannot rebuild the model: .*status -6",
               "... but the graph does not expand: an unknown version")
    # both a stored and a compressed graph
    s.write("gz_both.nnz", with_section(packed_literals(graph), [SEC_GRAPH, graph]))
    s.info("gz_both", "gz_both.nnz", 3, bad, "a graph section and a compressed one: one graph only")
    # a graph-described entry (or an in-graph one) needs the stored graph
    x = fresh_described(b0, graph)
    s.write("gz_described.nnz", x)
    s.info("gz_described", "gz_described.nnz", 3, bad,
           "an entry described by the graph in a blob whose graph is compressed")
    # a section expanding past the tool's limit (1,024 bytes a byte + 64 KiB)
    big = (1 << 31) - 1
    s.write("gz_expansion_limit.nnz", with_section(pack_tokens([("lit", c) for c in graph], big)))
    decompress("gz_expansion_limit", "gz_expansion_limit.nnz", 3,
               r"compressed graph declares 2147483647 bytes from [0-9]+, over the limit",
               "a compressed graph that declares 2 GiB: refused before any memory is taken")


def fresh_described(b0, graph):
    """b0 with its first entry flagged described by the graph (its name,
    type and shape as the stored graph gives them)."""
    x = copy.deepcopy(b0)
    e = x.entries[0]
    e["described"] = (e["name"], e["dtype"], list(e["dims"]))
    return x.write()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_hostile.py OUTDIR")
    outdir = sys.argv[1]
    nnzip = os.environ.get("NNZIP", "build/nnzip")
    if not os.access(nnzip, os.X_OK):
        sys.exit("gen_hostile: %s is not an executable nnzip (set NNZIP)" % nnzip)
    os.makedirs(outdir, exist_ok=True)
    s = Suite(outdir)
    onnx_cases(s)
    blob_cases(s, nnzip)
    graph_codec_cases(s, nnzip)
    verify_cases(s, nnzip)
    s.finish()
    print("gen_hostile: %d cases in %s" % (len(s.lines), os.path.join(outdir, "expected.tsv")))


if __name__ == "__main__":
    main()
