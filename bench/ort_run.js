// ort_run.js - ONNX Runtime (tests/oracle's onnxruntime-node) for the benches.
//   node bench/ort_run.js shapes MODEL.onnx DIMS
//       run once; print {output name: dims} for every graph output
//   node bench/ort_run.js time A.onnx B.onnx DIMS [ROUNDS] [ITERS]
//       one intra-op thread, sequential, the same input for both; after a
//       warm-up, ROUNDS rounds alternate ITERS runs of A and ITERS of B; print
//       {"a_ms", "b_ms", "ratio"}: the medians per run and the median of b/a
// DIMS: the first input's dims, comma-separated (float32, values in [0, 1)
// from a fixed seed). Speed is measured here, never in the tests.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'oracle', 'node_modules', 'onnxruntime-node'));

const opts = {
  executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1,
  interOpNumThreads: 1, executionMode: 'sequential', logSeverityLevel: 3,
};

function input(session, dims) {
  const n = dims.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    v[i] = (s >>> 8) / 16777216;
  }
  return { [session.inputNames[0]]: new ort.Tensor('float32', v, dims) };
}

function median(a) {
  const b = [...a].sort((x, y) => x - y);
  const m = b.length >> 1;
  return b.length % 2 ? b[m] : (b[m - 1] + b[m]) / 2;
}

async function timeRuns(session, feeds, iters) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) await session.run(feeds);
  return Number(process.hrtime.bigint() - t0) / 1e6 / iters;
}

async function main(argv) {
  ort.env.logLevel = 'error';
  if (argv[0] === 'shapes') {
    const s = await ort.InferenceSession.create(argv[1], opts);
    const out = await s.run(input(s, argv[2].split(',').map(Number)));
    const r = {};
    for (const k of Object.keys(out)) r[k] = out[k].dims;
    console.log(JSON.stringify(r));
    return;
  }
  if (argv[0] !== 'time') throw new Error('usage: ort_run.js shapes|time ...');
  const dims = argv[3].split(',').map(Number);
  const rounds = Number(argv[4] || 7), iters = Number(argv[5] || 5);
  const a = await ort.InferenceSession.create(argv[1], opts);
  const b = await ort.InferenceSession.create(argv[2], opts);
  const fa = input(a, dims), fb = input(b, dims);
  await timeRuns(a, fa, 2);
  await timeRuns(b, fb, 2);
  const ta = [], tb = [], ratio = [];
  for (let r = 0; r < rounds; r++) {
    const x = await timeRuns(a, fa, iters), y = await timeRuns(b, fb, iters);
    ta.push(x);
    tb.push(y);
    ratio.push(y / x);
  }
  console.log(JSON.stringify({ a_ms: median(ta), b_ms: median(tb), ratio: median(ratio) }));
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`ort_run.js: ${e.message}\n`);
  process.exit(1);
});
