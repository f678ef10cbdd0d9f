#include "util/safe_text.h"

#include <algorithm>
#include <cctype>

namespace asiarch {
namespace {

bool credential_name(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* w : {"key", "token", "secret", "password", "passwd", "auth", "sig", "credential"})
    if (n.find(w) != std::string::npos) return true;
  return false;
}

// Where a URL starting at `from` ends: at whitespace, a quote or a closing bracket.
std::size_t url_end(std::string_view text, std::size_t from) {
  std::size_t i = from;
  while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])) && text[i] != '"' && text[i] != '\'' &&
         text[i] != ')' && text[i] != '>')
    ++i;
  return i;
}

// The length of the well-formed UTF-8 sequence of two or more bytes at `i` (RFC 3629: no overlong
// form, no surrogate, nothing past U+10FFFF), or 0.
std::size_t utf8_sequence_at(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  const std::size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return 0;
  const auto d = static_cast<unsigned char>(text[i + 1]);
  if ((c == 0xe0 && d < 0xa0) || (c == 0xed && d >= 0xa0) || (c == 0xf0 && d < 0x90) || (c == 0xf4 && d >= 0x90))
    return 0;
  return n;
}

}  // namespace

std::string escape_control(std::string_view text, bool keep_newlines) {
  std::string out;
  out.reserve(text.size());
  auto hex = [&out](unsigned char c) {
    static const char* d = "0123456789abcdef";
    out += "\\x";
    out += d[c >> 4];
    out += d[c & 15];
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n' || c == '\t') {
      out += keep_newlines ? std::string(1, static_cast<char>(c)) : std::string(c == '\n' ? "\\n" : "\\t");
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      hex(c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // A whole, well-formed sequence is kept, but for the C1 controls (U+0080..U+009F), which a
      // terminal acts on; anything else is escaped byte by byte.
      std::size_t n = utf8_sequence_at(text, i);
      if (n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) n = 0;
      if (n > 0) {
        out.append(text.substr(i, n));
        i += n;
      } else {
        hex(c);
        ++i;
      }
    }
  }
  return out;
}

std::size_t invalid_utf8_at(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence_at(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string redact_url(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const std::size_t authority = scheme + 3;
  const std::size_t path = std::min(url.find_first_of("/?#", authority), url.size());
  std::string out(url.substr(0, authority));
  std::string_view host = url.substr(authority, path - authority);
  if (const auto at = host.rfind('@'); at != std::string_view::npos) {
    out += "***@";
    host = host.substr(at + 1);
  }
  out += host;
  std::string_view rest = url.substr(path);
  const auto q = rest.find('?');
  if (q == std::string_view::npos) return out + std::string(rest);
  out += rest.substr(0, q + 1);
  std::string_view query = rest.substr(q + 1);
  std::string_view fragment;
  if (const auto hash = query.find('#'); hash != std::string_view::npos) {
    fragment = query.substr(hash);
    query = query.substr(0, hash);
  }
  bool first = true;
  while (true) {
    const auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    const auto eq = part.find('=');
    if (!first) out += '&';
    first = false;
    if (eq != std::string_view::npos && credential_name(part.substr(0, eq))) out += std::string(part.substr(0, eq + 1)) + "***";
    else out += part;
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out + std::string(fragment);
}

std::string redact_urls(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t at = std::string_view::npos;
    for (const char* scheme : {"http://", "https://"}) at = std::min(at, text.find(scheme, i));
    if (at == std::string_view::npos) break;
    out += text.substr(i, at - i);
    const std::size_t end = url_end(text, at);
    out += redact_url(text.substr(at, end - at));
    i = end;
  }
  out += text.substr(std::min(i, text.size()));
  return out;
}

}  // namespace asiarch
