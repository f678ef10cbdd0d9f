#include "serve/access.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <random>

namespace asiarch::host {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, name.c_str(), buf) == 1) return true;
  return name.size() > 2 && name.front() == '[' && name.back() == ']' &&
         inet_pton(AF_INET6, name.substr(1, name.size() - 2).c_str(), buf) == 1;
}

bool wildcard(const std::string& bound) { return bound == "0.0.0.0" || bound == "::" || bound.empty(); }

// "name[:port]" or "[v6][:port]" into the name (brackets kept) and the port (-1: none given, -2: not a number).
std::pair<std::string, int> split_host(std::string_view h) {
  std::string name(h);
  int port = -1;
  const auto colon = name.rfind(':');
  const auto bracket = name.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    const std::string p = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), ::isdigit)) return {name, -2};
    port = std::stoi(p);
  }
  return {lower(name), port};
}

}  // namespace

bool host_allowed(std::string_view host_header, const std::string& bound_host, int port,
                  const std::vector<std::string>& names) {
  if (host_header.empty()) return false;
  auto [name, p] = split_host(host_header);
  if (p == -2 || (p >= 0 && p != port)) return false;
  if (name == "localhost" || name == "127.0.0.1" || name == "[::1]") return true;
  const std::string bound = lower(bound_host);
  if (name == bound || name == "[" + bound + "]") return true;
  if (wildcard(bound) && is_ip_literal(name)) return true;
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return lower(n) == name; });
}

std::string same_origin_refusal(std::string_view origin, std::string_view sec_fetch_site, std::string_view host_header) {
  if (!sec_fetch_site.empty() && sec_fetch_site != "same-origin" && sec_fetch_site != "none")
    return "a state-changing request from another site (Sec-Fetch-Site: " + std::string(sec_fetch_site.substr(0, 40)) + ")";
  if (!origin.empty() && lower(origin) != "http://" + lower(host_header))
    return "a state-changing request from another origin (" + std::string(origin.substr(0, 80)) + ")";
  return "";
}

bool equal_secret(std::string_view a, std::string_view b) {
  // Every byte of the longer is read whatever matches, and the lengths are folded in at the end.
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool bearer_is(std::string_view authorization, const std::string& token) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (token.empty() || authorization.substr(0, kPrefix.size()) != kPrefix) return false;
  return equal_secret(authorization.substr(kPrefix.size()), token);
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
  }
  return std::nullopt;
}

std::string Sessions::create() {
  std::random_device rd;  // the kernel's generator
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 8; ++i) {
    const std::uint32_t r = rd();
    for (int b = 0; b < 8; ++b) id.push_back(kHex[(r >> (4 * b)) & 15]);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ids_.push_back(id);
  if (ids_.size() > kMax) ids_.pop_front();
  return id;
}

bool Sessions::valid(std::string_view id) const {
  if (id.empty()) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  bool found = false;
  for (const auto& s : ids_) found |= equal_secret(s, id);
  return found;
}

}  // namespace asiarch::host
