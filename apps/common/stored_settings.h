// Settings read back from a file (a checkpoint's configuration) checked as the command line checks
// them, so that a file cannot ask for what the flag refuses: a weight mode "resnet20", a negative
// width, 2^31 bits.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace lowbit {

// Every key of `stored` that one of `flags`' options sets (key_of names an option's key) is handed
// to that option as if typed after it on the command line, so that the option's own conversion
// (text where a number belongs, an integer past its type's range, a fraction for a count) and its
// validators (ranges, allowed names) judge the stored value. `flags` must be a scratch App: its
// bound variables receive the values. A value equal to the setting's own default (`defaults`, the
// configuration's defaults as JSON) is left alone: some defaults stand for "resolved later" outside
// the flag's range (a learning rate of -1). Booleans, null and arrays are left to the JSON reader:
// they have no text a flag reads the same way (a negated flag, --no-augment, turns its value over).
// A value the flag refuses: lowbit::Error "key <where>/<key>: <value> is refused by --flag
// (<CLI11's reason>)".
void check_stored_settings(CLI::App& flags, const nlohmann::json& stored,
                           const nlohmann::json& defaults, const std::string& where,
                           const std::function<std::string(const CLI::Option&)>& key_of);

}  // namespace lowbit
