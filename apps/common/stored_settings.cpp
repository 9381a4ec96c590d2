// check_stored_settings: the command line's checks applied to a file's settings.
#include "apps/common/stored_settings.h"

#include "core/check.h"
#include "core/printable.h"

namespace lowbit {

void check_stored_settings(CLI::App& flags, const nlohmann::json& stored,
                           const nlohmann::json& defaults, const std::string& where,
                           const std::function<std::string(const CLI::Option&)>& key_of) {
  if (!stored.is_object()) return;
  for (CLI::Option* option : flags.get_options()) {
    const std::string key = key_of(*option);
    const auto it = stored.find(key);
    if (it == stored.end() || !(it->is_string() || it->is_number())) continue;
    if (defaults.contains(key) && defaults.at(key) == *it) continue;
    // A number as JSON writes it ("2147483648", "0.5", "-1"): the text a user would have typed.
    const std::string text = it->is_string() ? it->get<std::string>() : it->dump();
    option->clear();
    option->add_result(text);
    try {
      option->run_callback();
    } catch (const CLI::Error& e) {
      // CLI11's reason, without the "--flag: " it starts with when the flag refused the value.
      std::string reason = e.what();
      const std::string name = option->get_name() + ": ";
      if (reason.compare(0, name.size(), name) == 0) reason.erase(0, name.size());
      throw Error(concat("key ", where, "/", key, ": ", printable(text), " is refused by ",
                         option->get_name(), " (", printable(reason), ")"));
    }
  }
}

}  // namespace lowbit
