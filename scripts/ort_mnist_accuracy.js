// The test accuracy of an ONNX classifier in ONNX Runtime on MNIST's 10,000 test images, for the
// worked example of docs/onnx.md: PyTorch -> lowbit-import -> lowbit-quantize -> lowbit-export ->
// ONNX Runtime. The images are normalized with --mean/--std (the file's input_mean and input_std
// metadata, as lowbit-export writes them), by default lowbit's MNIST normalization.
// Usage: NODE_PATH=.deps/onnxruntime/node_modules node scripts/ort_mnist_accuracy.js MODEL.onnx
//        DATA_DIR [--mean M --std S]   (DATA_DIR holds t10k-images-idx3-ubyte.gz and the labels)
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function readIdx(file, magic) {
  const bytes = zlib.gunzipSync(fs.readFileSync(file));
  if (bytes.readUInt32BE(0) !== magic) {
    throw new Error(`${file}: magic number ${bytes.readUInt32BE(0)}, expected ${magic}`);
  }
  return bytes;
}

function option(args, name) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
}

async function main(args) {
  if (args.length < 2) throw new Error('usage: ort_mnist_accuracy.js MODEL.onnx DATA_DIR [--mean M --std S]');
  const [model, dir] = args;
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, {executionProviders: ['cpu']});
  const mean = option(args, '--mean') ?? 0.1307;
  const std = option(args, '--std') ?? 0.3081;
  const images = readIdx(path.join(dir, 't10k-images-idx3-ubyte.gz'), 2051);
  const labels = readIdx(path.join(dir, 't10k-labels-idx1-ubyte.gz'), 2049);
  const count = images.readUInt32BE(4), side = images.readUInt32BE(8);
  const input = new Float32Array(count * side * side);
  for (let i = 0; i < input.length; ++i) input[i] = (images[16 + i] / 255 - mean) / std;
  const start = Date.now();
  const outputs = await session.run(
      {[session.inputNames[0]]: new ort.Tensor('float32', input, [count, 1, side, side])});
  const logits = outputs[session.outputNames[0]].data;
  const classes = logits.length / count;
  let correct = 0;
  for (let n = 0; n < count; ++n) {
    let best = 0;
    for (let k = 1; k < classes; ++k) {
      if (logits[n * classes + k] > logits[n * classes + best]) best = k;
    }
    correct += best === labels[8 + n];
  }
  console.log(`${model}: ONNX Runtime test accuracy ${(100 * correct / count).toFixed(2)}% ` +
              `(${count} images, mean ${mean}, std ${std}, ${Date.now() - start} ms)`);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`ort_mnist_accuracy: ${e.message}`);
  process.exit(1);
});
