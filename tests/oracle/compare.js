#!/usr/bin/env node
'use strict';
// Test oracle for nnzip: runs a reference ONNX model and a test model (for
// example the reference after a compress/decompress round trip) on the same
// deterministic inputs in onnxruntime-node (CPU) and reports how their outputs
// differ. See README.md beside this file for the CLI, metrics and exit codes.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const EXIT_OK = 0;
const EXIT_USAGE = 2;
const EXIT_MODEL = 3;

const USAGE = `usage:
  node compare.js REF.onnx TEST.onnx [options]     compare two models
  node compare.js --run MODEL.onnx [options]       run one model (smoke test)

options:
  --inputs SPEC.json       per-input spec {name: {dims, dtype, range, dist, value, fill, channel_fill, channel_axis}};
                           repeatable, later files override earlier ones field by field
  --corpus-model NAME      take input specs from the corpus entry NAME
  --corpus-json PATH       corpus models.json (default: ../shared/corpus/models.json from the repo root)
  --dataset DATASET.json   feed a labelled dataset as the first input and report accuracy
  --seed N                 PRNG seed (default 1)
  --batches K              number of random input draws (default 1)
  --opt-level LEVEL        disabled|basic|extended|all (default all)
  --threads N              intra-op threads for both sessions (default 1)
  --json                   print one JSON document instead of text
  --help                   print this help`;

class UsageError extends Error {}
class ModelError extends Error {}

// ---------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const opts = {
    positional: [], run: null, inputs: [], corpusModel: null,
    corpusJson: path.resolve(__dirname, '..', '..', '..', 'shared', 'corpus', 'models.json'),
    dataset: null, seed: 1, batches: 1, optLevel: 'all', threads: 1, json: false, help: false,
  };
  const takesValue = {
    '--run': 'run', '--corpus-model': 'corpusModel',
    '--corpus-json': 'corpusJson', '--dataset': 'dataset', '--seed': 'seed',
    '--batches': 'batches', '--opt-level': 'optLevel', '--threads': 'threads',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') opts.json = true;
    else if (arg === '--help' || arg === '-h') opts.help = true;
    else if (arg === '--inputs') {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      opts.inputs.push(argv[++i]); // repeatable: later files override earlier ones
    } else if (arg in takesValue) {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      opts[takesValue[arg]] = argv[++i];
    } else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    else opts.positional.push(arg);
  }
  if (opts.help) return opts;
  opts.seed = parseInteger('--seed', opts.seed, 0);
  opts.batches = parseInteger('--batches', opts.batches, 1);
  opts.threads = parseInteger('--threads', opts.threads, 0);
  if (!['disabled', 'basic', 'extended', 'all'].includes(opts.optLevel)) {
    throw new UsageError(`--opt-level must be disabled, basic, extended or all`);
  }
  if (opts.run !== null) {
    if (opts.positional.length) throw new UsageError('--run takes exactly one model');
    if (opts.dataset) throw new UsageError('--dataset is not available with --run');
  } else if (opts.positional.length !== 2) {
    throw new UsageError('expected REF.onnx and TEST.onnx');
  }
  return opts;
}

function parseInteger(name, text, min) {
  const s = String(text);
  if (!/^\d+$/.test(s) || Number(s) < min || !Number.isSafeInteger(Number(s))) {
    throw new UsageError(`${name} must be an integer >= ${min}, got '${s}'`);
  }
  return Number(s);
}

function readJsonFile(file, what) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${file}: ${e.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} ${file} is not valid JSON: ${e.message}`);
  }
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Input specs: the corpus entry (if any) first, then --inputs overriding it
// field by field, so a spec file can change one thing (say dims) of a corpus input.
function loadInputSpecs(opts) {
  const specs = {};
  if (opts.corpusModel) {
    const corpus = readJsonFile(opts.corpusJson, 'corpus file');
    const models = Array.isArray(corpus.models) ? corpus.models : [];
    const entry = models.find((m) => m && m.name === opts.corpusModel);
    if (!entry) {
      throw new UsageError(`no model '${opts.corpusModel}' in ${opts.corpusJson} ` +
        `(have: ${models.map((m) => m.name).join(', ')})`);
    }
    mergeSpecs(specs, entry.inputs || {}, opts.corpusJson);
  }
  for (const file of opts.inputs) {
    let doc = readJsonFile(file, 'input spec');
    // Also accept a single corpus-style entry {"name": ..., "inputs": {...}}.
    if (isPlainObject(doc) && isPlainObject(doc.inputs) &&
        Object.entries(doc).every(([k, v]) => k === 'inputs' || !isPlainObject(v))) {
      doc = doc.inputs;
    }
    mergeSpecs(specs, doc, file);
  }
  return specs;
}

function mergeSpecs(into, doc, source) {
  if (!isPlainObject(doc)) throw new UsageError(`${source}: input specs must be an object keyed by input name`);
  for (const [name, spec] of Object.entries(doc)) {
    if (!isPlainObject(spec)) throw new UsageError(`${source}: spec for input '${name}' must be an object`);
    // A null field removes what an earlier source set (e.g. "fill": null
    // turns a corpus input's constant fill back into a random draw).
    const merged = Object.assign({}, into[name] || {}, spec);
    for (const k of Object.keys(merged)) if (merged[k] === null) delete merged[k];
    validateSpec(name, merged, source);
    into[name] = merged;
  }
}

const DISTS = ['uniform', 'noise', 'smooth', 'lines', 'text'];

// Only the fields this oracle interprets are checked; others are ignored so
// the corpus can grow new descriptive fields without breaking the oracle.
function validateSpec(name, s, source) {
  const bad = (msg) => { throw new UsageError(`${source}: input '${name}': ${msg}`); };
  if (s.dims !== undefined && (!Array.isArray(s.dims) ||
      !s.dims.every((d) => d === null || typeof d === 'string' || (Number.isInteger(d) && d >= -1)))) {
    bad('dims must be an array of non-negative integers (null/-1/strings = take from the model)');
  }
  if (s.dtype !== undefined && !(s.dtype in DTYPES)) bad(`unsupported dtype '${s.dtype}'`);
  if (s.range !== undefined && (!Array.isArray(s.range) || s.range.length !== 2 ||
      !s.range.every(Number.isFinite) || s.range[0] > s.range[1])) {
    bad('range must be [lo, hi] with lo <= hi');
  }
  if (s.dist !== undefined && !DISTS.includes(s.dist)) bad(`dist must be one of ${DISTS.join(', ')}`);
  if (s.value !== undefined && !Number.isFinite(s.value) &&
      !(Array.isArray(s.value) && s.value.length > 0 && s.value.every(Number.isFinite))) {
    bad('value must be a number or a non-empty array of numbers');
  }
  if (s.fill !== undefined && !Number.isFinite(s.fill)) bad('fill must be a number');
  if (s.channel_fill !== undefined && (!isPlainObject(s.channel_fill) ||
      !Object.entries(s.channel_fill).every(([k, v]) => /^\d+$/.test(k) && Number.isFinite(v)))) {
    bad('channel_fill must be {"<channel index>": number}');
  }
  if (s.channel_axis !== undefined && !Number.isInteger(s.channel_axis)) bad('channel_axis must be an integer');
}

// ---------------------------------------------------------------------------
// Element types: how each ONNX type is held in onnxruntime-node.

// Null prototype: a spec's "dtype": "constructor" must not look like a type.
const DTYPES = Object.assign(Object.create(null), {
  float32: { array: Float32Array, kind: 'float' },
  float64: { array: Float64Array, kind: 'float' },
  float16: { array: Uint16Array, kind: 'float' }, // IEEE half bits
  int8: { array: Int8Array, kind: 'int' },
  uint8: { array: Uint8Array, kind: 'int' },
  int16: { array: Int16Array, kind: 'int' },
  uint16: { array: Uint16Array, kind: 'int' },
  int32: { array: Int32Array, kind: 'int' },
  uint32: { array: Uint32Array, kind: 'int' },
  int64: { array: BigInt64Array, kind: 'int' },
  uint64: { array: BigUint64Array, kind: 'int' },
  bool: { array: Uint8Array, kind: 'bool' },
});

function isFloatType(t) {
  return DTYPES[t] !== undefined && DTYPES[t].kind === 'float';
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

// float -> IEEE half bits, round to nearest even (via the float32 value).
function floatToHalfBits(value) {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++; // may carry into the exponent: correct
  return sign | half;
}

function halfBitsToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// Values (a Float64Array holding numbers in the model's units) -> typed array.
function materialize(values, dtype) {
  const info = DTYPES[dtype];
  if (!info) throw new UsageError(`cannot generate inputs of type ${dtype}`);
  const n = values.length;
  const out = new info.array(n);
  if (dtype === 'float16') {
    for (let i = 0; i < n; i++) out[i] = floatToHalfBits(values[i]);
  } else if (dtype === 'int64' || dtype === 'uint64') {
    for (let i = 0; i < n; i++) out[i] = BigInt(Math.round(values[i]));
  } else if (dtype === 'bool') {
    for (let i = 0; i < n; i++) out[i] = values[i] ? 1 : 0;
  } else if (info.kind === 'int') {
    for (let i = 0; i < n; i++) out[i] = Math.round(values[i]);
  } else {
    out.set(values);
  }
  return out;
}

// Tensor data -> Float64Array of numbers, for the numeric metrics.
function toNumbers(tensor) {
  const data = tensor.data;
  const n = data.length;
  const out = new Float64Array(n);
  if (tensor.type === 'float16' && data instanceof Uint16Array) {
    for (let i = 0; i < n; i++) out[i] = halfBitsToFloat(data[i]);
  } else { // Number() also converts int64 BigInts (exact below 2^53)
    for (let i = 0; i < n; i++) out[i] = Number(data[i]);
  }
  return out;
}

function tensorBytes(tensor) {
  const d = tensor.data;
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(JSON.stringify(d)); // string tensors
}

// ---------------------------------------------------------------------------
// Deterministic randomness

// FNV-1a: turns (seed, batch, input name) into a 32-bit PRNG seed, so each
// input's draw does not depend on which other inputs the model has.
function hashString(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// mulberry32: small, fast, good enough for test inputs; returns [0, 1).
function makeRng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.between = (lo, hi) => lo + (hi - lo) * next();
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive
  return next;
}

// ---------------------------------------------------------------------------
// Input generation

function product(dims) {
  return dims.reduce((a, b) => a * b, 1);
}

function stridesOf(dims) {
  const s = new Array(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) { s[i] = acc; acc *= dims[i]; }
  return s;
}

// Resolve dims/dtype/how-to-fill for every input of the reference model.
function planInputs(session, specs) {
  const meta = metadataByName(session.inputMetadata);
  const unknown = Object.keys(specs).filter((n) => !session.inputNames.includes(n));
  if (unknown.length) {
    process.stderr.write(`compare.js: note: spec for unknown input(s) ignored: ${unknown.join(', ')}\n`);
  }
  return session.inputNames.map((name) => {
    const spec = specs[name] || {};
    const m = meta[name];
    if (m && m.isTensor === false) throw new UsageError(`input '${name}' is not a tensor; not supported`);
    const dtype = spec.dtype || (m && m.type) || 'float32';
    if (!DTYPES[dtype]) throw new UsageError(`input '${name}' has type ${dtype}, which the oracle cannot generate`);
    const dims = resolveDims(spec, m);
    return { name, dtype, dims, spec };
  });
}

function metadataByName(list) {
  const out = {};
  for (const m of list || []) out[m.name] = m;
  return out;
}

// Spec dims win; symbolic, missing or unknown dims become 1. A constant
// value with no dims anywhere becomes a 1-D tensor of its length.
function resolveDims(spec, m) {
  const modelShape = m && Array.isArray(m.shape) ? m.shape : null;
  if (Array.isArray(spec.dims)) {
    return spec.dims.map((d, i) => {
      if (Number.isInteger(d) && d >= 0) return d;
      const md = modelShape && modelShape[i];
      return Number.isInteger(md) && md >= 0 ? md : 1;
    });
  }
  if (modelShape) return modelShape.map((d) => (Number.isInteger(d) && d >= 0 ? d : 1));
  if (Array.isArray(spec.value)) return [spec.value.length];
  return [];
}

function defaultRange(dtype) {
  if (isFloatType(dtype)) return [-1, 1];
  if (dtype === 'bool') return [0, 1];
  return [0, 9];
}

function describePlan(p) {
  const s = p.spec;
  let how;
  if (s.value !== undefined) how = `value ${JSON.stringify(s.value)}`;
  else if (s.fill !== undefined) how = `fill ${s.fill}`;
  else how = `${s.dist || 'uniform'} [${(s.range || defaultRange(p.dtype)).join(', ')}]`;
  if (s.channel_fill) how += ` channel_fill ${JSON.stringify(s.channel_fill)}`;
  return { dtype: p.dtype, dims: p.dims, fill: how };
}

// One draw of values (numbers in model units) for one input.
function generateValues(plan, seed, batch) {
  const { dims, dtype, spec } = plan;
  const n = product(dims);
  if (spec.value !== undefined) return representable(constantValues(plan, n), dtype);
  if (spec.fill !== undefined) return representable(new Float64Array(n).fill(spec.fill), dtype);
  const rng = makeRng(hashString(`${seed}:${batch}:${plan.name}`));
  const range = spec.range || defaultRange(dtype);
  const dist = spec.dist || 'uniform';
  let values;
  // Picture-like dists make no sense for integer inputs (token ids, indices): uniform.
  if (dist === 'uniform' || dist === 'noise' || (!isFloatType(dtype) && dist !== 'smooth')) {
    values = uniformValues(n, range, dtype, rng);
  } else if (dist === 'smooth') {
    values = smoothValues(dims, range, rng);
  } else {
    const layout = imageLayout(dims, spec);
    values = layout ? imageValues(dist, dims, layout, range, rng) : smoothValues(dims, range, rng);
  }
  if (spec.channel_fill) applyChannelFill(values, dims, spec);
  return representable(values, dtype);
}

// Round the values to what the reference input type can hold, so a test model
// whose input is wider (float32 where the reference has float16) is fed
// exactly the same numbers rather than the unrounded draw.
function representable(values, dtype) {
  const n = values.length;
  if (dtype === 'float16') for (let i = 0; i < n; i++) values[i] = halfBitsToFloat(floatToHalfBits(values[i]));
  else if (dtype === 'float32') for (let i = 0; i < n; i++) values[i] = Math.fround(values[i]);
  else if (!isFloatType(dtype)) for (let i = 0; i < n; i++) values[i] = Math.round(values[i]);
  return values;
}

function constantValues(plan, n) {
  const v = Array.isArray(plan.spec.value) ? plan.spec.value : [plan.spec.value];
  if (v.length === 1) return new Float64Array(n).fill(v[0]);
  if (v.length !== n) {
    throw new UsageError(`input '${plan.name}': value has ${v.length} elements, dims [${plan.dims}] need ${n}`);
  }
  return Float64Array.from(v);
}

// Uniform in [lo, hi); integer types draw integers in [lo, hi] inclusive.
function uniformValues(n, [lo, hi], dtype, rng) {
  const out = new Float64Array(n);
  if (isFloatType(dtype)) {
    for (let i = 0; i < n; i++) out[i] = rng.between(lo, hi);
  } else {
    const a = Math.ceil(lo);
    const b = Math.floor(hi);
    for (let i = 0; i < n; i++) out[i] = rng.int(a, b);
  }
  return out;
}

// Smooth: per sample (first axis when rank >= 2), a sum of 6 low-frequency
// sinusoids over the normalised coordinates of the other axes, stretched to
// fill [lo, hi]. Looks like a blurry picture / slow tone rather than noise,
// which keeps activations in a realistic regime for image and audio models.
function smoothValues(dims, [lo, hi], rng) {
  const n = product(dims);
  const out = new Float64Array(n);
  if (n === 0) return out;
  const rank = dims.length;
  const batchAxis = rank >= 2 ? 1 : 0; // axes before this are "sample" axes
  const samples = rank >= 2 ? dims[0] : 1;
  const perSample = n / samples;
  const inner = dims.slice(batchAxis);
  const strides = stridesOf(inner);
  const K = 6;
  for (let s = 0; s < samples; s++) {
    const comps = [];
    for (let k = 0; k < K; k++) {
      comps.push({
        amp: 1 / (1 + k),
        phase: rng.between(0, 2 * Math.PI),
        freq: inner.map((d) => (d > 1 ? rng.between(0.3, 3) : 0)),
      });
    }
    const base = s * perSample;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < perSample; i++) {
      let v = 0;
      for (const c of comps) {
        let arg = c.phase;
        let rest = i;
        for (let a = 0; a < inner.length; a++) {
          const idx = Math.floor(rest / strides[a]);
          rest -= idx * strides[a];
          if (c.freq[a]) arg += 2 * Math.PI * c.freq[a] * (idx / inner[a]);
        }
        v += c.amp * Math.sin(arg);
      }
      out[base + i] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const span = max - min;
    for (let i = 0; i < perSample; i++) {
      out[base + i] = span > 0 ? lo + (hi - lo) * (out[base + i] - min) / span : (lo + hi) / 2;
    }
  }
  return out;
}

// Channel axis: explicit channel_axis, else for rank 4 the smaller of dims[1]
// (NCHW) and dims[3] (NHWC), ties going to NCHW as ONNX's convention; else 1.
function channelAxis(dims, spec) {
  if (Number.isInteger(spec.channel_axis)) {
    const a = spec.channel_axis < 0 ? spec.channel_axis + dims.length : spec.channel_axis;
    if (a < 0 || a >= dims.length) throw new UsageError(`channel_axis ${spec.channel_axis} out of range for dims [${dims}]`);
    return a;
  }
  if (dims.length === 4) return dims[3] < dims[1] ? 3 : 1;
  return dims.length >= 2 ? 1 : 0;
}

// Image axes for the picture-like dists: rank 4 = batch, channel and two
// spatial axes; rank 3 = [N, H, W] with one implicit channel. Else null.
function imageLayout(dims, spec) {
  if (dims.length === 4) {
    const c = channelAxis(dims, spec);
    const spatial = [1, 2, 3].filter((a) => a !== c);
    return { c, h: spatial[0], w: spatial[1] };
  }
  if (dims.length === 3) return { c: null, h: 1, w: 2 };
  return null;
}

function applyChannelFill(values, dims, spec) {
  const axis = channelAxis(dims, spec);
  const strides = stridesOf(dims);
  for (const [key, v] of Object.entries(spec.channel_fill)) {
    const ch = Number(key);
    if (ch >= dims[axis]) throw new UsageError(`channel_fill channel ${ch} out of range (axis ${axis} has ${dims[axis]})`);
    for (let i = 0; i < values.length; i++) {
      if (Math.floor(i / strides[axis]) % dims[axis] === ch) values[i] = v;
    }
  }
}

// A tiny raster: H x W x C intensity fractions in [0, 1] for one sample,
// later mapped into [lo, hi] and scattered into the tensor layout.
function makeCanvas(H, W, C) {
  return { H, W, C, px: new Float64Array(H * W * C) };
}

function paint(canvas, y, x, colour) {
  if (y < 0 || x < 0 || y >= canvas.H || x >= canvas.W) return;
  const o = (y * canvas.W + x) * canvas.C;
  for (let c = 0; c < canvas.C; c++) canvas.px[o + c] = colour[c];
}

function fillRect(canvas, y0, x0, h, w, colour) {
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) paint(canvas, y, x, colour);
}

// Background: a gentle diagonal gradient between two levels.
function paintBackground(canvas, rng, lo, hi) {
  const a = rng.between(lo, hi);
  const b = rng.between(lo, hi);
  for (let y = 0; y < canvas.H; y++) {
    for (let x = 0; x < canvas.W; x++) {
      const t = (y / Math.max(1, canvas.H - 1) + x / Math.max(1, canvas.W - 1)) / 2;
      const o = (y * canvas.W + x) * canvas.C;
      for (let c = 0; c < canvas.C; c++) canvas.px[o + c] = a + (b - a) * t;
    }
  }
}

// "lines": dark background with 6-14 bright straight segments of 10-45% of
// the image size, 1-3 px thick, a third of them axis-aligned, light grey with a
// slight tint (roughly a wireframe / room picture, what a line detector expects).
function drawLines(canvas, rng) {
  paintBackground(canvas, rng, 0.05, 0.25);
  const size = Math.min(canvas.H, canvas.W);
  const count = rng.int(6, 14);
  for (let k = 0; k < count; k++) {
    const x0 = rng.between(0, canvas.W);
    const y0 = rng.between(0, canvas.H);
    const len = rng.between(0.1, 0.45) * size;
    const angle = rng() < 0.33 ? rng.int(0, 3) * Math.PI / 2 : rng.between(0, 2 * Math.PI);
    const x1 = Math.min(canvas.W - 1, Math.max(0, x0 + len * Math.cos(angle)));
    const y1 = Math.min(canvas.H - 1, Math.max(0, y0 + len * Math.sin(angle)));
    const r = rng.int(0, 1);
    const grey = rng.between(0.7, 1);
    const colour = Array.from({ length: canvas.C }, () => Math.min(1, grey + rng.between(-0.1, 0.1)));
    const steps = Math.ceil(2 * Math.hypot(x1 - x0, y1 - y0)) + 1;
    for (let s = 0; s <= steps; s++) {
      const x = Math.round(x0 + (x1 - x0) * s / steps);
      const y = Math.round(y0 + (y1 - y0) * s / steps);
      fillRect(canvas, y - r, x - r, 2 * r + 1, 2 * r + 1, colour);
    }
  }
}

// "text": light page with rows of dark glyph-like marks (each glyph 2-4
// random strokes in a box), grouped into words (what a text detector expects).
function drawText(canvas, rng) {
  paintBackground(canvas, rng, 0.8, 0.97);
  const { H, W } = canvas;
  const minH = Math.max(5, Math.round(H / 40));
  const maxH = Math.max(minH, Math.round(H / 14));
  let y = rng.int(2, Math.max(2, Math.round(H / 10)));
  while (true) {
    const gh = rng.int(minH, maxH);
    if (y + gh >= H) break;
    const ink = Array.from({ length: canvas.C }, () => rng.between(0, 0.15));
    const stroke = Math.max(1, Math.round(gh / 7));
    const gw = Math.max(3, Math.round(gh * 0.6));
    let x = rng.int(2, Math.max(2, Math.round(W / 6)));
    const xEnd = rng.between(0.4, 0.98) * W;
    while (x + gw < xEnd) {
      const letters = rng.int(2, 8);
      for (let l = 0; l < letters && x + gw < xEnd; l++) {
        drawGlyph(canvas, rng, y, x, gh, gw, stroke, ink);
        x += gw + Math.max(1, Math.round(gh * 0.15));
      }
      x += Math.round(gh * 0.6);
    }
    y += Math.round(gh * rng.between(1.4, 2.6));
  }
}

function drawGlyph(canvas, rng, y, x, h, w, stroke, ink) {
  const strokes = rng.int(2, 4);
  for (let s = 0; s < strokes; s++) {
    if (rng() < 0.5) { // vertical bar at a random column, full or partial height
      const cx = x + rng.int(0, w - stroke);
      const top = rng() < 0.6 ? 0 : rng.int(0, Math.floor(h / 2));
      fillRect(canvas, y + top, cx, h - top, stroke, ink);
    } else { // horizontal bar at the top, middle or bottom
      const row = [0, Math.floor((h - stroke) / 2), h - stroke][rng.int(0, 2)];
      fillRect(canvas, y + row, x, stroke, w, ink);
    }
  }
}

function imageValues(dist, dims, layout, [lo, hi], rng) {
  const out = new Float64Array(product(dims));
  const strides = stridesOf(dims);
  const H = dims[layout.h];
  const W = dims[layout.w];
  const C = layout.c === null ? 1 : dims[layout.c];
  for (let b = 0; b < dims[0]; b++) {
    const canvas = makeCanvas(H, W, C);
    if (dist === 'lines') drawLines(canvas, rng);
    else drawText(canvas, rng);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < C; c++) {
          const idx = b * strides[0] + y * strides[layout.h] + x * strides[layout.w] +
            (layout.c === null ? 0 : c * strides[layout.c]);
          out[idx] = lo + (hi - lo) * canvas.px[(y * W + x) * C + c];
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Sessions

let ort = null;
function loadOrt() {
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    throw new ModelError(`cannot load onnxruntime-node (run 'npm install --ignore-scripts' in ${__dirname}): ${e.message}`);
  }
  ort.env.logLevel = 'error';
}

// Both models get identical options, so equivalent graphs take the same
// optimisation passes and kernels and can come out bit-identical. One intra-op
// thread by default so results (and --run checksums) do not depend on the
// machine's core count.
function sessionOptions(opts) {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: opts.optLevel,
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
}

async function createSession(label, file, opts) {
  if (!fs.existsSync(file)) throw new ModelError(`${label} ${file}: no such file`);
  try {
    return await ort.InferenceSession.create(file, sessionOptions(opts));
  } catch (e) {
    throw new ModelError(`${label} ${file} failed to load: ${firstLine(e)}`);
  }
}

async function runSession(label, file, session, feeds) {
  try {
    return await session.run(feeds);
  } catch (e) {
    throw new ModelError(`${label} ${file} failed to run: ${firstLine(e)}`);
  }
}

function firstLine(e) {
  return String((e && e.message) || e).split('\n')[0];
}

// Build the feed for one session from shared values, in that session's own
// input dtype (so e.g. a float16-input test model gets the same numbers).
function feedsFor(session, plans, valuesByName, label, file) {
  const meta = metadataByName(session.inputMetadata);
  const byName = {};
  for (const p of plans) byName[p.name] = p;
  const feeds = {};
  for (const name of session.inputNames) {
    const p = byName[name];
    if (!p) throw new ModelError(`${label} ${file} needs input '${name}', which the reference model lacks`);
    const m = meta[name];
    const dtype = p.spec.dtype || (m && m.isTensor && m.type) || p.dtype;
    if (!DTYPES[dtype]) throw new ModelError(`${label} ${file}: input '${name}' has unsupported type ${dtype}`);
    feeds[name] = new ort.Tensor(dtype, materialize(valuesByName[name], dtype), p.dims);
  }
  return feeds;
}

// ---------------------------------------------------------------------------
// Metrics

function newAccumulator() {
  return {
    dtype: null, shape: null, error: null, isFloat: true, elements: 0, equal: 0,
    bitIdentical: true, maxAbs: 0, sumSqDiff: 0, sumSqRef: 0, sumSqTest: 0, dot: 0,
    nonfiniteMismatches: 0, rows: 0, rowsAgree: 0, top1: false,
  };
}

// concatRows: the runs are chunks of one dataset, so the reported shape
// grows along the first axis; otherwise it is the shape of one run.
function accumulate(acc, ref, test, concatRows) {
  acc.dtype = ref.type;
  if (concatRows && acc.shape && acc.shape.length && sameDims(acc.shape.slice(1), ref.dims.slice(1))) {
    acc.shape[0] += ref.dims[0];
  } else {
    acc.shape = ref.dims.slice();
  }
  if (!sameDims(ref.dims, test.dims)) {
    acc.error = `shape mismatch: ref [${ref.dims}] vs test [${test.dims}]`;
    acc.bitIdentical = false;
    return;
  }
  if (ref.type === 'string' || test.type === 'string') {
    acc.isFloat = false;
    const a = ref.data; const b = test.data;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) acc.equal++;
    acc.elements += a.length;
    if (ref.type !== test.type || !tensorBytes(ref).equals(tensorBytes(test))) acc.bitIdentical = false;
    return;
  }
  acc.isFloat = isFloatType(ref.type) && isFloatType(test.type);
  if (ref.type !== test.type || !tensorBytes(ref).equals(tensorBytes(test))) acc.bitIdentical = false;
  const a = toNumbers(ref);
  const b = toNumbers(test);
  acc.elements += a.length;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]; const y = b[i];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) acc.equal++;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      // Same NaN / same infinity agree; anything else is an infinite error.
      if (!(x === y || (Number.isNaN(x) && Number.isNaN(y)))) acc.nonfiniteMismatches++;
      continue;
    }
    const d = Math.abs(x - y);
    if (d > acc.maxAbs) acc.maxAbs = d;
    acc.sumSqDiff += d * d;
    acc.sumSqRef += x * x;
    acc.sumSqTest += y * y;
    acc.dot += x * y;
  }
  const last = ref.dims.length ? ref.dims[ref.dims.length - 1] : 1;
  if (acc.isFloat && last > 1) {
    acc.top1 = true;
    const rows = a.length / last;
    for (let r = 0; r < rows; r++) {
      acc.rows++;
      if (argmax(a, r * last, last) === argmax(b, r * last, last)) acc.rowsAgree++;
    }
  }
}

function sameDims(a, b) {
  return a.length === b.length && a.every((d, i) => d === Number(b[i]));
}

// First index of the maximum; NaNs never win.
function argmax(v, off, len) {
  let best = -1;
  let bestV = -Infinity;
  for (let i = 0; i < len; i++) {
    const x = v[off + i];
    if (x > bestV || (best < 0 && !Number.isNaN(x))) { best = i; bestV = x; }
  }
  return best;
}

// Final per-output record. Keys in a fixed order; non-finite numbers are
// turned into null only when printing JSON.
function finalize(acc) {
  const rec = {
    max_abs: null, rel_l2: null, cosine: null, bit_identical: acc.bitIdentical,
    top1_agreement: null, elements: acc.elements,
    equal_fraction: acc.elements ? acc.equal / acc.elements : 1,
    nonfinite_mismatches: acc.nonfiniteMismatches,
    dtype: acc.dtype, shape: acc.shape, error: acc.error,
  };
  if (acc.error) {
    rec.equal_fraction = null;
    return rec;
  }
  if (!acc.isFloat) return rec;
  const bad = acc.nonfiniteMismatches > 0;
  rec.max_abs = bad ? Infinity : acc.maxAbs;
  const nd = Math.sqrt(acc.sumSqDiff);
  const na = Math.sqrt(acc.sumSqRef);
  const nb = Math.sqrt(acc.sumSqTest);
  rec.rel_l2 = bad ? Infinity : (nd === 0 ? 0 : nd / na); // nd > 0 with na = 0 -> Infinity
  if (bad) rec.cosine = NaN;
  else if (na === 0 && nb === 0) rec.cosine = 1;
  else if (na === 0 || nb === 0) rec.cosine = 0;
  else rec.cosine = Math.max(-1, Math.min(1, acc.dot / (na * nb)));
  rec.top1_agreement = acc.top1 && acc.rows ? acc.rowsAgree / acc.rows : null;
  return rec;
}

function missingOutput(which) {
  const acc = newAccumulator();
  acc.error = `missing in ${which}`;
  acc.bitIdentical = false;
  return acc;
}

function summarize(records) {
  const recs = Object.values(records);
  const floats = recs.filter((r) => r.rel_l2 !== null);
  let worst = null;
  if (floats.length) worst = Math.max(...floats.map((r) => r.rel_l2));
  if (recs.some((r) => r.error)) worst = Infinity;
  return {
    all_bit_identical: recs.length > 0 && recs.every((r) => r.bit_identical),
    worst_rel_l2: worst,
  };
}

// ---------------------------------------------------------------------------
// Dataset mode

function loadDataset(file) {
  const doc = readJsonFile(file, 'dataset');
  const dir = path.dirname(path.resolve(file));
  if (typeof doc.x !== 'string' || !Array.isArray(doc.x_shape) || !doc.x_shape.every(Number.isInteger)) {
    throw new UsageError(`dataset ${file}: needs "x" (file) and "x_shape" (integer array)`);
  }
  const n = doc.n !== undefined ? doc.n : doc.x_shape[0];
  if (!Number.isInteger(n) || n < 1 || n !== doc.x_shape[0]) {
    throw new UsageError(`dataset ${file}: n (${n}) must be a positive integer equal to x_shape[0]`);
  }
  const xBuf = readBinary(path.resolve(dir, doc.x), 'dataset x');
  const xCount = product(doc.x_shape);
  if (xBuf.length !== xCount * 4) {
    throw new UsageError(`dataset x ${doc.x}: ${xBuf.length} bytes, x_shape [${doc.x_shape}] needs ${xCount * 4}`);
  }
  const x = new Float32Array(xCount);
  for (let i = 0; i < xCount; i++) x[i] = xBuf.readFloatLE(i * 4);
  let y = null;
  if (doc.y !== undefined) {
    const yBuf = readBinary(path.resolve(dir, doc.y), 'dataset y');
    if (yBuf.length !== n * 8) throw new UsageError(`dataset y ${doc.y}: ${yBuf.length} bytes, expected ${n * 8} (n int64 labels)`);
    y = new Array(n);
    for (let i = 0; i < n; i++) y[i] = Number(yBuf.readBigInt64LE(i * 8));
  }
  return { n, x, xShape: doc.x_shape, perSample: xCount / n, y };
}

function readBinary(file, what) {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${file}: ${e.message}`);
  }
}

// Shape of one sample as the model wants it: from --inputs dims, else the
// model's input shape, else the dataset's own shape; the first dim is the batch.
function sampleShape(plan, session, ds) {
  const meta = metadataByName(session.inputMetadata)[plan.name];
  let shape = null;
  if (Array.isArray(plan.spec.dims)) shape = plan.dims.slice(1);
  else if (meta && Array.isArray(meta.shape) && meta.shape.length >= 1 &&
           meta.shape.slice(1).every((d) => Number.isInteger(d) && d >= 0)) {
    shape = meta.shape.slice(1);
  } else shape = ds.xShape.slice(1);
  if (product(shape) !== ds.perSample) {
    throw new UsageError(`dataset samples have ${ds.perSample} values; input '${plan.name}' wants [${shape}] per sample`);
  }
  return shape;
}

// Chunk size: the model's fixed batch dim if it has one (short last chunk is
// zero-padded and the padding rows are dropped), else up to 256 rows.
function chunkSize(plan, session, n) {
  const meta = metadataByName(session.inputMetadata)[plan.name];
  const d0 = meta && Array.isArray(meta.shape) ? meta.shape[0] : undefined;
  if (Number.isInteger(d0) && d0 > 0) return { size: d0, fixed: true };
  return { size: Math.min(n, 256), fixed: false };
}

async function runDataset(ctx, ds) {
  const { opts, refSession, testSession, plans } = ctx;
  const first = plans[0];
  const shape = sampleShape(first, refSession, ds);
  const { size, fixed } = chunkSize(first, refSession, ds.n);
  const accs = {};
  const preds = { ref: [], test: [] };
  let chunkIndex = 0;
  for (let start = 0; start < ds.n; start += size, chunkIndex++) {
    const real = Math.min(size, ds.n - start);
    const rows = fixed ? size : real;
    const values = {};
    const xs = new Float64Array(rows * ds.perSample);
    xs.set(ds.x.subarray(start * ds.perSample, (start + real) * ds.perSample));
    values[first.name] = xs;
    const chunkPlans = plans.map((p, i) => (i === 0 ? Object.assign({}, p, { dims: [rows, ...shape] }) : p));
    for (const p of chunkPlans.slice(1)) values[p.name] = generateValues(p, opts.seed, chunkIndex);
    const [refOut, testOut] = await runBoth(ctx, chunkPlans, values);
    preds.ref.push(...rowArgmax(refOut[refSession.outputNames[0]], rows, 'reference').slice(0, real));
    preds.test.push(...rowArgmax(testOut[testSession.outputNames[0]], rows, 'test').slice(0, real));
    compareOutputs(accs, dropPadding(refOut, rows, real), dropPadding(testOut, rows, real),
      refSession.outputNames, testSession.outputNames, true);
  }
  const hits = (p) => p.filter((c, i) => c === ds.y[i]).length / ds.n;
  return {
    accs,
    accuracy: {
      ref: ds.y ? hits(preds.ref) : null,
      test: ds.y ? hits(preds.test) : null,
      agreement: preds.ref.filter((c, i) => c === preds.test[i]).length / ds.n,
    },
  };
}

// Zero-padded rows of a short last chunk must not count in the metrics:
// cut every output whose first axis is the batch back to the real rows.
function dropPadding(outputs, rows, real) {
  if (real === rows) return outputs;
  const out = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims.length && t.dims[0] === rows) {
      const per = t.data.length / rows;
      out[name] = new ort.Tensor(t.type, t.data.slice(0, real * per), [real, ...t.dims.slice(1)]);
    } else {
      out[name] = t;
    }
  }
  return out;
}

function rowArgmax(tensor, rows, label) {
  const v = toNumbers(tensor);
  if (v.length % rows !== 0 || v.length === 0) {
    throw new UsageError(`${label} model's first output has ${v.length} values, not a multiple of ${rows} rows`);
  }
  const len = v.length / rows;
  const out = [];
  for (let r = 0; r < rows; r++) out.push(argmax(v, r * len, len));
  return out;
}

// ---------------------------------------------------------------------------
// Comparison driver

async function runBoth(ctx, plans, values) {
  const { opts, refSession, testSession } = ctx;
  const ref = opts.positional[0];
  const test = opts.positional[1];
  const refFeeds = feedsFor(refSession, plans, values, 'reference model', ref);
  const testFeeds = feedsFor(testSession, plans, values, 'test model', test);
  const refOut = await runSession('reference model', ref, refSession, refFeeds);
  const testOut = await runSession('test model', test, testSession, testFeeds);
  return [refOut, testOut];
}

function compareOutputs(accs, refOut, testOut, refNames, testNames, concatRows) {
  for (const name of refNames) {
    if (!accs[name]) accs[name] = newAccumulator();
    if (!(name in testOut)) {
      accs[name] = missingOutput('test');
      continue;
    }
    if (!accs[name].error) accumulate(accs[name], refOut[name], testOut[name], concatRows);
  }
  for (const name of testNames) if (!refNames.includes(name)) accs[name] = missingOutput('reference');
}

async function compareMode(opts) {
  const specs = loadInputSpecs(opts);
  const ds = opts.dataset ? loadDataset(opts.dataset) : null;
  loadOrt();
  const [ref, test] = opts.positional;
  const refSession = await createSession('reference model', ref, opts);
  const testSession = await createSession('test model', test, opts);
  const plans = planInputs(refSession, specs);
  if (ds && !plans.length) throw new UsageError('--dataset: the reference model has no inputs');
  const ctx = { opts, refSession, testSession, plans };
  let accs = {};
  let accuracy = null;
  if (ds) {
    ({ accs, accuracy } = await runDataset(ctx, ds));
  } else {
    for (let b = 0; b < opts.batches; b++) {
      const values = {};
      for (const p of plans) values[p.name] = generateValues(p, opts.seed, b);
      const [refOut, testOut] = await runBoth(ctx, plans, values);
      compareOutputs(accs, refOut, testOut, refSession.outputNames, testSession.outputNames);
    }
  }
  const outputs = {};
  for (const [name, acc] of Object.entries(accs)) outputs[name] = finalize(acc);
  const inputs = {};
  for (const p of plans) inputs[p.name] = describePlan(p);
  if (ds) {
    inputs[plans[0].name].dims = [ds.n, ...sampleShape(plans[0], refSession, ds)];
    inputs[plans[0].name].fill = `dataset ${opts.dataset}`;
  }
  return Object.assign({ ref, test, outputs }, summarize(outputs), {
    accuracy,
    seed: opts.seed,
    batches: ds ? null : opts.batches,
    settings: { opt_level: opts.optLevel, threads: opts.threads },
    inputs,
  });
}

async function runMode(opts) {
  const specs = loadInputSpecs(opts);
  loadOrt();
  const session = await createSession('model', opts.run, opts);
  const plans = planInputs(session, specs);
  const values = {};
  for (const p of plans) values[p.name] = generateValues(p, opts.seed, 0);
  const feeds = feedsFor(session, plans, values, 'model', opts.run);
  const out = await runSession('model', opts.run, session, feeds);
  const outputs = {};
  for (const name of session.outputNames) {
    const t = out[name];
    let sum = null;
    if (t.type !== 'string') sum = toNumbers(t).reduce((a, b) => a + b, 0);
    outputs[name] = {
      dtype: t.type,
      shape: t.dims.slice(),
      elements: t.data.length,
      sha256: crypto.createHash('sha256').update(tensorBytes(t)).digest('hex'),
      sum,
    };
  }
  const inputs = {};
  for (const p of plans) inputs[p.name] = describePlan(p);
  return { model: opts.run, outputs, seed: opts.seed, settings: { opt_level: opts.optLevel, threads: opts.threads }, inputs };
}

// ---------------------------------------------------------------------------
// Printing

// JSON cannot hold NaN or +-Infinity: they become null (see README). One
// line, no spaces, so scripts can grep for '"all_bit_identical":true'.
function toJson(doc) {
  return JSON.stringify(doc, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

function fmt(v) {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (v === 0 || Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? v.toPrecision(6) : v.toExponential(3);
}

function printInputs(lines, inputs) {
  for (const [name, d] of Object.entries(inputs)) {
    lines.push(`input  ${name}: ${d.dtype} [${d.dims}] ${d.fill}`);
  }
}

function printCompare(r) {
  const lines = [`ref:   ${r.ref}`, `test:  ${r.test}`];
  printInputs(lines, r.inputs);
  for (const [name, o] of Object.entries(r.outputs)) {
    if (o.error) {
      lines.push(`output ${name}: ERROR ${o.error}`);
      continue;
    }
    lines.push(`output ${name}: ${o.dtype} [${o.shape}] x${o.elements} elements` +
      `  bit_identical ${fmt(o.bit_identical)}  max_abs ${fmt(o.max_abs)}  rel_l2 ${fmt(o.rel_l2)}` +
      `  cosine ${fmt(o.cosine)}  top1 ${fmt(o.top1_agreement)}  equal ${fmt(o.equal_fraction)}` +
      (o.nonfinite_mismatches ? `  nonfinite_mismatches ${o.nonfinite_mismatches}` : ''));
  }
  lines.push(`all_bit_identical: ${fmt(r.all_bit_identical)}   worst_rel_l2: ${fmt(r.worst_rel_l2)}`);
  if (r.accuracy) {
    lines.push(`accuracy: ref ${fmt(r.accuracy.ref)}  test ${fmt(r.accuracy.test)}  agreement ${fmt(r.accuracy.agreement)}`);
  }
  lines.push(`seed ${r.seed}  batches ${fmt(r.batches)}  opt_level ${r.settings.opt_level}  threads ${r.settings.threads}`);
  return lines.join('\n') + '\n';
}

function printRun(r) {
  const lines = [`model: ${r.model}`];
  printInputs(lines, r.inputs);
  for (const [name, o] of Object.entries(r.outputs)) {
    lines.push(`output ${name}: ${o.dtype} [${o.shape}] sum ${fmt(o.sum)} sha256 ${o.sha256}`);
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------

async function main(argv) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`compare.js: ${e.message}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (opts.help) {
    process.stdout.write(USAGE + '\n');
    return EXIT_OK;
  }
  try {
    const result = opts.run !== null ? await runMode(opts) : await compareMode(opts);
    if (opts.json) process.stdout.write(toJson(result) + '\n');
    else process.stdout.write(opts.run !== null ? printRun(result) : printCompare(result));
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`compare.js: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof ModelError) {
      process.stderr.write(`compare.js: ${e.message}\n`);
      return EXIT_MODEL;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`compare.js: internal error: ${e.stack || e}\n`); process.exitCode = 1; },
  );
}

// Exposed for unit tests of the oracle itself (input generation, metrics).
module.exports = {
  main, makeRng, hashString, generateValues, floatToHalfBits, halfBitsToFloat,
  newAccumulator, accumulate, finalize, channelAxis, imageLayout,
  // for dump.js, which writes these inputs and ORT's outputs to files
  planInputs, loadInputSpecs, materialize, sessionOptions, DTYPES,
};
