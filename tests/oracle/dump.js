#!/usr/bin/env node
'use strict';
// Write the inputs compare.js would feed a model, and ONNX Runtime's outputs
// for them, as .npy files: OUTDIR/inputs/<input name>.npy and
// OUTDIR/ort/output_<N>.npy. nnzip's interpreter is checked against these
// (tests/suite/57-infer.sh, bench/): same inputs, ORT as the reference.
//
//   node tests/oracle/dump.js MODEL.onnx OUTDIR [--corpus-model NAME] [--inputs SPEC.json]
//        [--seed N] [--opt-level L] [--threads N] [--time-runs K]
// With --time-runs K the session is run K more times and the fastest time
// per inference (ms) is printed as {"ort_ms": x} on stdout.

const fs = require('fs');
const path = require('path');
const cmp = require('./compare.js');

const NPY = {
  float32: '<f4', float64: '<f8', float16: '<f2', int8: '|i1', uint8: '|u1', int16: '<i2',
  uint16: '<u2', int32: '<i4', uint32: '<u4', int64: '<i8', uint64: '<u8', bool: '|b1',
};

function npy(dtype, dims, data) {
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let h = `{'descr': '${NPY[dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = (64 - ((10 + h.length + 1) % 64)) % 64;
  h += ' '.repeat(pad) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0;
  head.writeUInt16LE(h.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([head, Buffer.from(h, 'latin1'), body]);
}

function fileName(name) {
  return name.replace(/[\/\\\x00-\x1f]/g, '_');
}

async function main() {
  const argv = process.argv.slice(2);
  const opts = { positional: [], inputs: [], corpusModel: null, seed: 1, optLevel: 'all', threads: 1, timeRuns: 0,
    corpusJson: path.resolve(__dirname, '..', '..', '..', 'shared', 'corpus', 'models.json') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--inputs') opts.inputs.push(argv[++i]);
    else if (a === '--corpus-model') opts.corpusModel = argv[++i];
    else if (a === '--corpus-json') opts.corpusJson = argv[++i];
    else if (a === '--seed') opts.seed = Number(argv[++i]);
    else if (a === '--opt-level') opts.optLevel = argv[++i];
    else if (a === '--threads') opts.threads = Number(argv[++i]);
    else if (a === '--time-runs') opts.timeRuns = Number(argv[++i]);
    else if (a.startsWith('--')) { process.stderr.write(`dump.js: unknown option ${a}\n`); process.exit(2); }
    else opts.positional.push(a);
  }
  if (opts.positional.length !== 2) {
    process.stderr.write('usage: dump.js MODEL.onnx OUTDIR [--corpus-model NAME] [--inputs SPEC] [--seed N]\n');
    process.exit(2);
  }
  const [model, out] = opts.positional;
  const ort = require('onnxruntime-node');
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(model, cmp.sessionOptions(opts));
  const plans = cmp.planInputs(session, cmp.loadInputSpecs(opts));
  fs.mkdirSync(path.join(out, 'inputs'), { recursive: true });
  fs.mkdirSync(path.join(out, 'ort'), { recursive: true });
  const feeds = {};
  for (const p of plans) {
    const data = cmp.materialize(cmp.generateValues(p, opts.seed, 0), p.dtype);
    feeds[p.name] = new ort.Tensor(p.dtype, data, p.dims);
    fs.writeFileSync(path.join(out, 'inputs', fileName(p.name) + '.npy'), npy(p.dtype, p.dims, data));
  }
  const res = await session.run(feeds);
  session.outputNames.forEach((name, i) => {
    const t = res[name];
    fs.writeFileSync(path.join(out, 'ort', `output_${i}.npy`), npy(t.type, t.dims, t.data));
  });
  if (opts.timeRuns > 0) {
    let best = Infinity;
    for (let k = 0; k < opts.timeRuns; k++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ms < best) best = ms;
    }
    process.stdout.write(JSON.stringify({ ort_ms: best }) + '\n');
  }
}

main().catch((e) => { process.stderr.write(`dump.js: ${e.message}\n`); process.exit(3); });
