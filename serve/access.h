// Who the API answers: the rules the HTTP server applies before any route, as plain functions so
// each can be tested without a socket. The threats (docs/sandbox.md, "The API"): a web page the
// user visits posting to the daemon (cross-origin requests), a name the attacker controls that
// resolves to 127.0.0.1 (DNS rebinding: the browser sends the attacker's name as Host), and a
// token that leaks through URLs (logs, history, Referer).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asiarch::host {

// Whether a request's `Host` header names this server: a loopback name, the address it is bound
// to, any IP literal when it is bound to a wildcard address (a rebinding attack needs a DNS name),
// or one of the names the user configured (`--allow-host`). The port, when given, must be ours.
bool host_allowed(std::string_view host_header, const std::string& bound_host, int port,
                  const std::vector<std::string>& names);

// Whether a state-changing request came from this server's own page or from no page at all (a
// command-line client sends neither header): `Origin`, when present, must be http://<Host>, and
// `Sec-Fetch-Site`, when present, `same-origin` or `none`. Empty: allowed; else why not.
std::string same_origin_refusal(std::string_view origin, std::string_view sec_fetch_site, std::string_view host_header);

// Compares two secrets in time that depends on their lengths only.
bool equal_secret(std::string_view a, std::string_view b);

// `Authorization: Bearer <token>` carries `token`.
bool bearer_is(std::string_view authorization, const std::string& token);

// The value of cookie `name` in a `Cookie` header, if present.
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);

// Sessions of the dashboard: made by POST /api/session with the token, carried by an HttpOnly,
// SameSite=Strict cookie, so the page's EventSource (which cannot set headers) is authenticated
// without the token in a URL. A session authorises reads only; a state change needs the token.
class Sessions {
 public:
  static constexpr std::size_t kMax = 64;  // the oldest is forgotten beyond this
  std::string create();                    // 32 random bytes, hex
  bool valid(std::string_view id) const;

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> ids_;
};

inline constexpr const char* kSessionCookie = "asiarch_session";

}  // namespace asiarch::host
