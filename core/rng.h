// Rng: the one seeded source of randomness (initialization, dropout, data order, DST).
// xoshiro256** for sequential draws; for parallel loops, counter_uniform(key, i) gives
// the i-th number of a stream as a pure function, so results do not depend on how many
// threads share the loop.
#pragma once

#include <array>
#include <cstdint>

namespace lowbit {

class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  float uniform();                       // [0, 1)
  float uniform(float low, float high);  // [low, high)
  float normal();                        // standard normal (Box-Muller)
  float normal(float mean, float stddev) { return mean + stddev * normal(); }
  uint64_t below(uint64_t n);  // uniform integer in [0, n), unbiased
  bool bernoulli(float p) { return uniform() < p; }

  // A key for counter_uniform: one draw from this generator.
  uint64_t stream_key() { return next_u64(); }

  const State& state() const { return state_; }
  void set_state(const State& state) { state_ = state; }

 private:
  State state_{};
};

// splitmix64: the mixing function behind seeding and counter streams. Inline, with
// counter_uniform, because inner loops (DST) draw one number per element.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// The top 24 bits of `bits` as a float in [0, 1): every value is exactly representable.
inline float unit_float(uint64_t bits) {
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
}
// The index-th uniform [0, 1) number of the stream `key`; same value on any thread.
inline float counter_uniform(uint64_t key, uint64_t index) {
  return unit_float(splitmix64(key ^ splitmix64(index)));
}

// The process-wide generator that every default random choice draws from.
Rng& global_rng();
void manual_seed(uint64_t seed);

}  // namespace lowbit
