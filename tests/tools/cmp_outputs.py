#!/usr/bin/python3
"""Compare two folders of output_N.npy: REF (ONNX Runtime) and TEST (nnzip).

Prints one JSON line: {"outputs": [{"index", "shape", "rel_l2", "max_abs",
"equal"}], "worst_rel_l2": x}. Float outputs get the relative L2 error
||a-b|| / ||a|| (0 when a == b); integer and bool outputs must be equal
(rel_l2 0 when they are, 1 when not). Shapes must match. Exit 1 when
worst_rel_l2 > --max (default 1e-5), 0 otherwise."""
import json
import os
import sys

import numpy as np


def main():
    args = sys.argv[1:]
    limit = 1e-5
    if '--max' in args:
        i = args.index('--max')
        limit = float(args[i + 1])
        del args[i:i + 2]
    ref_dir, test_dir = args
    outs, worst = [], 0.0
    k = 0
    while os.path.exists(os.path.join(ref_dir, f'output_{k}.npy')):
        a = np.load(os.path.join(ref_dir, f'output_{k}.npy'))
        tp = os.path.join(test_dir, f'output_{k}.npy')
        if not os.path.exists(tp):
            outs.append({'index': k, 'error': 'missing in test'})
            worst = float('inf')
            k += 1
            continue
        b = np.load(tp)
        rec = {'index': k, 'shape': list(a.shape)}
        if a.shape != b.shape:
            rec['error'] = f'shape {list(b.shape)} != {list(a.shape)}'
            worst = float('inf')
        elif a.dtype.kind == 'f':
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            d = a64 - b64
            both = np.isfinite(a64) & np.isfinite(b64)
            same_nonfinite = (~both) & ((a64 == b64) | (np.isnan(a64) & np.isnan(b64)))
            if not np.all(both | same_nonfinite):
                rel = float('inf')
            else:
                na = np.linalg.norm(a64[both])
                nd = np.linalg.norm(d[both])
                rel = 0.0 if nd == 0 else (nd / na if na > 0 else float('inf'))
            rec['rel_l2'] = rel
            rec['max_abs'] = float(np.max(np.abs(d[both]))) if both.any() else 0.0
            worst = max(worst, rel)
        else:
            eq = bool(np.array_equal(a, b))
            rec['equal'] = eq
            rec['rel_l2'] = 0.0 if eq else 1.0
            worst = max(worst, rec['rel_l2'])
        outs.append(rec)
        k += 1
    if k == 0:
        print(json.dumps({'error': f'no output_N.npy in {ref_dir}'}))
        return 1
    print(json.dumps({'outputs': outs, 'worst_rel_l2': worst if np.isfinite(worst) else None}))
    return 0 if worst <= limit else 1


if __name__ == '__main__':
    sys.exit(main())
