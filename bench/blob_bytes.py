#!/usr/bin/python3
"""blob_bytes.py BLOB.nnz [...] - where the bytes of an .nnz blob go.

Parses the blob (docs/FORMAT.md) and splits it into header/table, graph,
metadata, and per directory entry: name, scales, zero points, other
parameters, the entry's other fields and its offset slot, Huffman tables,
code bytes and payload padding. The weight set is the entries with a coded
encoding (dense, sparse, hashed: what a pass quantized); --all-coded counts
integer-kind entries (already-quantized int8/uint8 codes) too. Prints one
line per blob; bits per weight over the weight set is 8 x (its payloads,
directory entries and offset slots) / its elements, as compress reports it,
and again with the metadata added."""
import json
import struct
import sys

ES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8,
      15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1}


class R:
    def __init__(self, b, p=0):
        self.b, self.p = b, p

    def u8(self):
        self.p += 1
        return self.b[self.p - 1]

    def var(self):
        v = s = 0
        while True:
            x = self.u8()
            v |= (x & 0x7f) << s
            s += 7
            if not x & 0x80:
                return v

    def take(self, n):
        self.p += n
        return self.b[self.p - n:self.p]


def table_bytes(pay, coding, width):
    """Bytes of a Huffman stream's table at the start of `pay`."""
    if coding in (0, 5, 6):  # packed, or another tensor's table (codings 5, 6)
        return 0
    r = R(pay)
    maxlen = r.u8()
    if maxlen == 0:
        return 1 + (width + 7) // 8
    counts = [r.var() for _ in range(maxlen)]
    start = r.p
    nsym = sum(counts)
    if coding in (1, 3):
        return start + (nsym * width + 7) // 8
    # gamma-coded gaps: walk the bits
    bitpos = start * 8

    def bit():
        nonlocal bitpos
        v = pay[bitpos >> 3] >> (7 - (bitpos & 7)) & 1
        bitpos += 1
        return v
    for c in counts:
        for _ in range(c):
            z = 0
            while bit() == 0:
                z += 1
            for _ in range(z):
                bit()
    return (bitpos + 7) // 8


def parse(path, all_coded):
    b = open(path, 'rb').read()
    nsec = struct.unpack_from('<I', b, 24)[0]
    secs = {}
    for s in range(nsec):
        t, _, off, ln = struct.unpack_from('<IIQQ', b, 64 + 32 * s)
        secs[t] = (off, ln)
    # the graph: stored (type 2) or compressed (type 6, format 2.1)
    packed = 6 in secs and 2 not in secs
    gsec = secs[6] if packed else secs[2]
    out = {'file': len(b), 'head': 64 + 32 * nsec, 'graph': gsec[1], 'graph_compressed': packed,
           'graph_names': 0, 'metadata': secs.get(4, (0, 0))[1], 'directory': secs[1][1],
           'payload': secs[3][1],
           'other_sections': sum(ln for t, (o, ln) in secs.items() if t > 4 and t != 6)}
    doff = secs[1][0]
    poff = secs[3][0]
    goff = gsec[0]
    major = struct.unpack_from('<H', b, 8)[0]
    count = struct.unpack_from('<I', b, doff)[0]
    run = 1 if major == 1 else 16
    nslot = (count + run - 1) // run
    offs = struct.unpack_from('<%dI' % nslot, b, doff + 4)
    w = dict(n=0, elements=0, name=0, scales=0, zero_points=0, params_other=0, entry_other=0,
             slot=0, tables=0, codes=0, padding=0)
    rest = dict(entries=0, payload=0)
    ends = []
    r = None
    prev_go = prev_ext = prev_end = 0

    def own_name_shape(r):
        """An entry's own name (bytes it takes) and element count."""
        at = r.p
        r.take(r.var() + 1)
        name_b = r.p - at
        r.u8()
        cnt = 1
        for _ in range(r.u8()):
            cnt *= r.var()
        return name_b, cnt

    for k in range(count):
        if k % run == 0:
            r = R(b, doff + offs[k // run])
        at = r.p
        if major == 1:  # name, dtype, dims, location, offsets, encoding, version
            name_b, cnt = own_name_shape(r)
            r.u8()
            r.var()
            po, pl = r.var(), r.var()
            enc, ver = r.u8(), r.u8()
        else:  # format 2: location, graph offset, described by the graph or named here, ...
            loc = r.u8()
            go = r.var()
            ext = loc & 0x40
            if k % run and not ext and not prev_ext:
                go += prev_go
            nat = r.p
            if loc & 0x20:  # the TensorProto's dims, data_type and name before the bytes
                back = r.var()
                g = R(b, goff + go - back)
                cnt = 1
                while b[g.p] == 0x08:
                    g.u8()
                    cnt *= g.var()
                name_b = r.p - nat
            else:
                name_b, cnt = own_name_shape(r)
                if packed:  # with its type and shape, which the graph gives otherwise
                    name_b = r.p - nat
            po = r.var() * 64 if k % run == 0 else (prev_end + 63) // 64 * 64
            pl = r.var()
            ev = r.u8()
            enc, ver = ev & 15, ev >> 4
            prev_go, prev_ext, prev_end = go, ext, po + pl
        prl = r.var()
        pstart = r.p
        r.p += prl
        entry_b = pstart + prl - at
        kind = (b[pstart] & 7 if ver >= 5 else b[pstart]) if prl else -1
        coded = enc in (1, 2, 3) and (kind != 5 or all_coded)
        ends.append((po, pl, coded))
        if not coded:
            rest['entries'] += entry_b + 4 // run
            rest['payload'] += pl
            continue
        w['n'] += 1
        w['elements'] += cnt
        if packed and not ext:
            # a compressed graph's names, types and shapes are in the
            # entries (docs/FORMAT.md): beyond the byte a described entry
            # takes, they count with the graph, as compress reports them
            # (graph_names_bytes)
            out['graph_names'] += name_b - 1
            entry_b -= name_b - 1
            name_b = 1
        w['name'] += name_b
        w['slot'] += 4 / run
        w['entry_other'] += entry_b - name_b - prl
        # parameters: kind, block_log2, value map, layout, streams
        q = R(b, pstart + (1 if ver >= 5 else 2))
        sc = zp = 0
        if kind in (3, 6):  # affine: float32 scales; affine-log: u8 exp, codes
            nch = q.var()  # (version 4 and 5: u8 base, u8 bits, nch codes of that many bits)
            q.var()
            at = q.p
            if kind == 3:
                q.take(4 * nch)
            elif ver >= 4:
                q.u8(), q.u8(), q.u8()  # exp, base, bits
                q.take((nch * q.b[q.p - 1] + 7) // 8)
            else:
                q.take(1 + nch)
            sc = q.p - at
            at = q.p
            if ver >= 5:  # varint zp + 1, or 0 and a u32 each
                z = q.var()
                q.take(0 if z else 4 * nch)
            else:
                shared = q.u8()
                q.take(4 if shared else 4 * nch)
            zp = q.p - at
        elif kind == 4:
            sc = q.var() * 4
            q.p += sc
        elif kind == 5:
            q.var()
        if enc == 2:
            q.var(), q.var()
        elif enc == 3:
            q.var(), q.take(5)
        nst = 2 if enc == 2 else 1
        streams = []
        for j in range(nst):
            if ver >= 5:
                cw = q.u8()
                if cw & 7 in (5, 6):  # a shared table: its owner's entry index (version 6)
                    q.var()
                streams.append([cw & 7, (cw >> 3) + 1, q.var() if j + 1 < nst else None])
            else:
                streams.append([q.u8(), q.u8(), q.var()])
        w['scales'] += sc
        w['zero_points'] += zp
        w['params_other'] += prl - sc - zp
        nblocks = 1
        bl = b[pstart] >> 3 if ver >= 5 else b[pstart + 1]
        if bl and cnt > (1 << bl):
            nblocks = (cnt + (1 << bl) - 1) >> bl
        idx = (nblocks - 1) * 4 * (nst + (enc == 2))
        if streams[-1][2] is None:  # the last stream: the rest of the payload
            streams[-1][2] = pl - idx - sum(x[2] for x in streams[:-1])
        at = poff + po + idx
        tb = 0
        for coding, width, ln in streams:
            tb += table_bytes(b[at:at + ln], coding, width)
            at += ln
        w['tables'] += tb
        w['codes'] += pl - tb
    # padding before each coded payload: from the previous payload's end
    prev = 0
    for po, pl, coded in sorted(ends):
        if coded:
            w['padding'] += po - prev
        prev = max(prev, po + pl)
    if 5 in secs:  # names section (format 1.2): a u16 per entry
        w['name'] += 2 * w['n']
    w['slot'] = round(w['slot'])
    out['weights'] = w
    out['rest'] = rest
    own = (w['name'] + w['scales'] + w['zero_points'] + w['params_other'] + w['entry_other'] +
           w['slot'] + w['tables'] + w['codes'])
    out['bits_per_weight'] = 8 * own / w['elements'] if w['elements'] else 0
    out['bits_per_weight_with_metadata'] = (8 * (own + out['metadata']) / w['elements']
                                            if w['elements'] else 0)
    return out


def main():
    args = sys.argv[1:]
    all_coded = '--all-coded' in args
    js = '--json' in args
    args = [a for a in args if not a.startswith('--')]
    for p in args:
        o = parse(p, all_coded)
        if js:
            print(json.dumps({'blob': p, **o}))
            continue
        w = o['weights']
        print('%s: %d B; graph %d, metadata %d, directory %d, payload %d; weight set %d tensors, '
              '%d weights: names %d, scales %d, zero points %d, other params %d, other entry %d, '
              'slots %d, tables %d, codes %d, padding %d; %.3f bits/weight (%.3f with metadata)'
              % (p, o['file'], o['graph'], o['metadata'], o['directory'], o['payload'], w['n'],
                 w['elements'], w['name'], w['scales'], w['zero_points'], w['params_other'],
                 w['entry_other'], w['slot'], w['tables'], w['codes'], w['padding'],
                 o['bits_per_weight'], o['bits_per_weight_with_metadata']))


if __name__ == '__main__':
    main()
