// Text made safe to show. Text from a candidate (names, file names, reasons, exceptions, logs)
// reaches terminals, logs and pages: its control characters must not act there. Credentials
// written into URLs (http://user:secret@host/, ?api_key=...) must reach none of them.
#pragma once

#include <string>
#include <string_view>

namespace asiarch {

// `text` safe to show on a terminal: control characters (ESC, CR, BEL, ...) as \xNN, and invalid
// UTF-8 (overlong forms, surrogates, C1 controls) as \xNN too. Newline and tab are kept unless
// `keep_newlines` is false (one line of a progress display), then written \n and \t.
std::string escape_control(std::string_view text, bool keep_newlines = true);

// Where `text` stops being well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// past U+10FFFF); npos when it is.
std::size_t invalid_utf8_at(std::string_view text);
inline bool valid_utf8(std::string_view text) { return invalid_utf8_at(text) == std::string_view::npos; }

// `url` with its user information and the values of credential-like query parameters (names
// holding key, token, secret, password, auth or sig) replaced by "***".
std::string redact_url(std::string_view url);

// Every http:// or https:// URL in `text` redacted as above.
std::string redact_urls(std::string_view text);

}  // namespace asiarch
