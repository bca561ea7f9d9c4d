#include "core/key_values.hpp"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.hpp"

namespace elm {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

double parse_double(const std::string& text, const std::string& key, const std::string& source) {
  std::string t = trim(text);
  double v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  ELM_CHECK(ec == std::errc() && ptr == t.data() + t.size() && !t.empty(), source, ": key '", key,
            "': '", text, "' is not a number");
  ELM_CHECK(std::isfinite(v), source, ": key '", key, "': value must be finite, got '", text, "'");
  return v;
}

int64_t parse_int(const std::string& text, const std::string& key, const std::string& source) {
  std::string t = trim(text);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec == std::errc() && ptr != t.data() + t.size()) {
    // Accept "8.0" as written by JSON dumps of floats holding integers.
    double d = 0;
    auto [p2, e2] = std::from_chars(t.data(), t.data() + t.size(), d);
    if (e2 == std::errc() && p2 == t.data() + t.size() && d == std::floor(d) && std::fabs(d) < 9e15)
      return static_cast<int64_t>(d);
  }
  ELM_CHECK(ec == std::errc() && ptr == t.data() + t.size() && !t.empty(), source, ": key '", key,
            "': '", text, "' is not an integer");
  return v;
}

bool parse_bool(const std::string& text, const std::string& key, const std::string& source) {
  std::string t = trim(text);
  if (t == "true" || t == "True" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "False" || t == "0" || t == "no" || t == "off") return false;
  fail(source, ": key '", key, "': '", text, "' is not a boolean (true/false)");
}

std::string format_double(double v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ptr);
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& x : lines) s += (s.empty() ? "" : "\n") + x;
  return s;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  for (size_t a = 0; a < text.size();) {
    size_t b = text.find('\n', a);
    if (b == std::string::npos) b = text.size();
    out.push_back(text.substr(a, b - a));
    a = b + 1;
  }
  return out;
}

KeyValues parse_flat_json(const std::string& json, const std::string& source) {
  boost::property_tree::ptree tree;
  std::istringstream in(json);
  try {
    boost::property_tree::read_json(in, tree);
  } catch (const std::exception& e) {
    fail(source, ": invalid JSON: ", e.what());
  }
  KeyValues kv;
  for (const auto& [key, child] : tree) {
    ELM_CHECK(child.empty(), source, ": key '", key, "': nested values are not supported");
    std::string value = child.data();
    // property_tree reads JSON null as the text "null"; the reference means "default".
    if (value == "null") continue;
    kv[key] = value;
  }
  return kv;
}

std::string to_flat_json(const KeyValues& kv) {
  boost::property_tree::ptree tree;
  for (const auto& [k, v] : kv) tree.put(boost::property_tree::ptree::path_type(k, '\0'), v);
  std::ostringstream os;
  boost::property_tree::write_json(os, tree, false);
  std::string s = os.str();
  while (!s.empty() && (s.back() == '\n')) s.pop_back();
  return s;
}

}  // namespace elm
