#include "lab/corpus.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <sstream>

#include "util/files.h"

namespace asiarch::lab {

namespace {

constexpr const char* kFortunesDir = "/usr/share/games/fortunes";

// Every English collection of the fortunes package in name order, the "%" lines between
// fortunes made blank lines. The ASCII-art collections are left out: they are not prose.
Result<std::string> extract_fortunes() {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(kFortunesDir, ec)) {
    const auto name = e.path().filename().string();
    if (!e.is_regular_file() || e.path().has_extension() || name == "art" || name == "ascii-art") continue;
    files.push_back(e.path());
  }
  if (ec || files.empty())
    return make_error(std::string(kFortunesDir) + ": no fortune collections; install the Debian package fortunes");
  std::sort(files.begin(), files.end());
  std::string out;
  for (const auto& f : files) {
    auto text = read_file(f);
    if (!text) return text.error();
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      if (line != "%") out += line;
      out += '\n';
    }
  }
  if (out.size() < 500000)
    return make_error(std::string(kFortunesDir) + ": only " + std::to_string(out.size()) +
                      " bytes of fortunes; install the Debian package fortunes (not only fortunes-min)");
  return out;
}

}  // namespace

const std::vector<std::string>& corpus_names() {
  static const std::vector<std::string> names = {"kjv", "fortunes"};
  return names;
}

Result<std::string> load_corpus(const std::filesystem::path& cache_dir, const std::string& name) {
  if (std::find(corpus_names().begin(), corpus_names().end(), name) == corpus_names().end())
    return make_error("unknown corpus \"" + name + "\"; valid corpora: kjv, fortunes");
  const auto path = cache_dir / "corpus" / (name + ".txt");
  if (auto text = read_file(path); text && !text->empty()) return text;
  if (name == "fortunes") {
    auto text = extract_fortunes();
    if (!text) return text.error();
    if (auto st = write_file_atomic(path, *text); !st) return st.error();
    return text;
  }
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
