// Inference speed of an ONNX classifier in ONNX Runtime (onnxruntime-node, CPU), for
// bench/ort_compare.sh: images per second over IMAGES random images in batches of BATCH, best of
// ROUNDS rounds after one warm-up batch. Random pixels: the speed does not depend on them.
// The session runs as ONNX Runtime is meant to be deployed: every graph optimization on ('all':
// BN folded, QuantizeLinear/DequantizeLinear pairs around a convolution fused into its int8
// QLinearConv, the layout changed for its kernels), THREADS intra-op threads.
// Usage: NODE_PATH=.deps/onnxruntime/node_modules node bench/ort_speed.js MODEL.onnx C H W BATCH
//        IMAGES THREADS ROUNDS
// Prints one JSON object: {"model", "batch", "threads", "images", "images_per_second",
// "ms_per_batch", "peak_rss_bytes"}. Errors: one line on stderr, exit 1.
'use strict';

async function main(args) {
  if (args.length !== 8) {
    throw new Error('usage: ort_speed.js MODEL.onnx C H W BATCH IMAGES THREADS ROUNDS');
  }
  const model = args[0];
  const [c, h, w, batch, images, threads, rounds] = args.slice(1).map(Number);
  for (const [name, v] of [['C', c], ['H', h], ['W', w], ['BATCH', batch], ['IMAGES', images],
    ['THREADS', threads], ['ROUNDS', rounds]]) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer, got ${v}`);
  }
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const data = new Float32Array(batch * c * h * w);
  for (let i = 0; i < data.length; ++i) data[i] = Math.random() * 2 - 1;
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, [batch, c, h, w])};
  await session.run(feeds);  // warm-up: ONNX Runtime allocates and plans on the first run
  const batches = Math.max(1, Math.round(images / batch));
  let best = Infinity;
  let peak = process.memoryUsage().rss;
  for (let r = 0; r < rounds; ++r) {
    const start = process.hrtime.bigint();
    for (let b = 0; b < batches; ++b) await session.run(feeds);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    best = Math.min(best, seconds);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  console.log(JSON.stringify({
    model,
    batch,
    threads,
    images: batches * batch,
    images_per_second: (batches * batch) / best,
    ms_per_batch: (1000 * best) / batches,
    peak_rss_bytes: peak,
  }));
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`ort_speed.js: ${e.message}`);
  process.exit(1);
});
