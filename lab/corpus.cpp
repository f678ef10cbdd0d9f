#include "lab/corpus.h"

#include <array>
#include <cstdio>
#include <sstream>

#include "util/files.h"

namespace asiarch::lab {

Result<std::string> load_corpus(const std::filesystem::path& cache_dir) {
  const auto path = cache_dir / "corpus" / "kjv.txt";
  if (auto text = read_file(path); text && !text->empty()) return text;
  FILE* p = ::popen("bible -l0 Gen1:1-Rev22:21 2>&1", "r");
  if (!p) return make_error("cannot run `bible` to extract the corpus (install bible-kjv)");
  std::string raw;
  std::array<char, 65536> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) raw.append(buf.data(), n);
  const int status = ::pclose(p);
  if (status != 0 || raw.size() < 1000000)
    return make_error("`bible -l0 Gen1:1-Rev22:21` failed (status " + std::to_string(status) +
                      "); install the Debian packages bible-kjv and bible-kjv-text");
  // Drop the verse numbers ("  12 And ...") and blank lines; keep book/chapter headings.
  std::istringstream in(raw);
  std::string out, line;
  while (std::getline(in, line)) {
    size_t i = line.find_first_not_of(' ');
    if (i == std::string::npos) continue;
    size_t j = i;
    while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j]))) ++j;
    if (j > i && j < line.size() && line[j] == ' ') i = j + 1;
    out += line.substr(i);
    out += '\n';
  }
  if (auto st = write_file_atomic(path, out); !st) return st.error();
  return out;
}

}  // namespace asiarch::lab
