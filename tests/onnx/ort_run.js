// Runs an ONNX file in ONNX Runtime (onnxruntime-node, CPU) on one float32 batch, for
// tests/onnx_runtime.cpp: the model's first input gets the batch, its first output is written.
// Usage: node ort_run.js MODEL.onnx INPUT.f32 N C H W OUT.f32 (float32, little-endian; the
// package found through NODE_PATH). Errors: one line on stderr, exit 1. `node ort_run.js --check`
// only loads the package: whether ONNX Runtime is there.
'use strict';
const fs = require('fs');

function readFloats(path, count) {
  const bytes = fs.readFileSync(path);
  if (bytes.length !== 4 * count) {
    throw new Error(`${path} holds ${bytes.length} bytes, expected ${4 * count} (${count} floats)`);
  }
  const values = new Float32Array(count);
  for (let i = 0; i < count; ++i) values[i] = bytes.readFloatLE(4 * i);
  return values;
}

function writeFloats(path, values) {
  const bytes = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => bytes.writeFloatLE(v, 4 * i));
  fs.writeFileSync(path, bytes);
}

async function main(args) {
  if (args.length === 1 && args[0] === '--check') {
    require('onnxruntime-node');
    return;
  }
  if (args.length !== 7) {
    throw new Error('usage: node ort_run.js MODEL.onnx INPUT.f32 N C H W OUT.f32');
  }
  const [model, inputPath, outPath] = [args[0], args[1], args[6]];
  const dims = args.slice(2, 6).map(Number);
  if (!dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`N C H W must be positive integers, got ${args.slice(2, 6).join(' ')}`);
  }
  const ort = require('onnxruntime-node');
  // 'disabled': ONNX Runtime runs each node as the file writes it, as PyTorch and lowbit do.
  // From 'basic' on it first rewrites the graph (BatchNormalization folded into the convolution
  // before it, fusions; 'all' also changes the layout): as exact on tests/onnx/torch_models.py's
  // networks (~1e-7 from PyTorch at every level), but no longer the graph as written. One
  // thread: the same sums in the same order on every run.
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const count = dims.reduce((a, b) => a * b);
  const input = new ort.Tensor('float32', readFloats(inputPath, count), dims);
  const outputs = await session.run({[session.inputNames[0]]: input});
  const output = outputs[session.outputNames[0]];
  if (output.type !== 'float32') {
    throw new Error(`output '${session.outputNames[0]}' is ${output.type}, expected float32`);
  }
  writeFloats(outPath, output.data);
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`ort_run: ${String(e.message || e).replace(/\s+/g, ' ').trim()}\n`);
  process.exit(1);
});
