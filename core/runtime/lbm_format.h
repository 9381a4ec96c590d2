// The packed model file (.lbm): an integer program (core/runtime/program.h) as bytes. Versioned,
// checksummed (CRC-32 of the body) and little-endian; docs/runtime.md gives it field by field.
// Weight codes are bit-packed at the width their range needs (3-bit weights take 3 bits each).
#pragma once

#include <cstdint>
#include <string>

#include "core/runtime/program.h"

namespace lowbit::runtime {

constexpr char kLbmMagic[8] = {'L', 'O', 'W', 'B', 'I', 'T', 'R', 'T'};
// The newest version this runtime reads and writes. Version 2 adds the level operation (the
// power-of-two activation) and weight tables (codes stored as indices into their distinct values);
// a program that needs neither is written as version 1, which older runtimes read too. Version 3
// adds the threshold operation (BN and the activation folded into accumulator thresholds), version
// 4 the float join (a projection block in the simulation's float32); a program without them keeps
// the version it had.
constexpr uint32_t kLbmVersion = 4;
constexpr int64_t kLbmHeaderBytes = 32;  // magic, version, flags, body size, CRC-32, reserved

// The version a program's file takes: 4 when it has a float join, else 3 when it has threshold
// operations or wide products, else 2 when it has level
// operations or a product whose codes are stored through a table, else 1.
uint32_t lbm_version_for(const Program& program);
// The whole file's bytes.
std::string encode_program(const Program& program);

// The program of a file's bytes; `name` (the file's path) begins every error message. Refuses a
// wrong magic number or version, a size or checksum that does not match, and a body whose counts,
// value numbers, geometry or multipliers are out of range, with one line naming the field; never
// allocates more than the bytes present imply.
Program decode_program(const std::string& bytes, const std::string& name);

// Reads and decodes `path`: a regular file of at most 1 GiB, its header checked before the body is
// read.
Program read_program_file(const std::string& path);

// The bits a weight code takes in the file: codes c in [low, high] are stored as c - low in
// bits_for_range(high - low) bits (at least 1).
int bits_for_range(int64_t range);

}  // namespace lowbit::runtime
