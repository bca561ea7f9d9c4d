#pragma once
// Parsing of typed values from config text, with errors that name the key.
#include <cstdint>
#include <map>
#include <string>

namespace elm {

using KeyValues = std::map<std::string, std::string>;

double parse_double(const std::string& text, const std::string& key, const std::string& source);
int64_t parse_int(const std::string& text, const std::string& key, const std::string& source);
bool parse_bool(const std::string& text, const std::string& key, const std::string& source);
std::string format_double(double v);

// A flat JSON object of scalars (numbers, strings, booleans, null) into key/value
// text; null values are left out so they take their defaults.
KeyValues parse_flat_json(const std::string& json, const std::string& source);
std::string to_flat_json(const KeyValues& kv);

}  // namespace elm
