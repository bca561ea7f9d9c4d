#pragma once
// Parsing of typed values from config text, with errors that name the key.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace elm {

using KeyValues = std::map<std::string, std::string>;

// Without leading and trailing blanks (spaces, tabs, CR, LF).
std::string trim(const std::string& s);

double parse_double(const std::string& text, const std::string& key, const std::string& source);
int64_t parse_int(const std::string& text, const std::string& key, const std::string& source);
bool parse_bool(const std::string& text, const std::string& key, const std::string& source);
std::string format_double(double v);

// Names kept in one string attribute or message, one per line ("" <-> none).
std::string join_lines(const std::vector<std::string>& lines);
std::vector<std::string> split_lines(const std::string& text);

// A flat JSON object of scalars (numbers, strings, booleans, null) into key/value
// text; null values are left out so they take their defaults.
KeyValues parse_flat_json(const std::string& json, const std::string& source);
std::string to_flat_json(const KeyValues& kv);

}  // namespace elm
