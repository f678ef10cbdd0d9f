// The cognition base: what the agents know about token mixers beyond the
// archive. Entries written for this project (cognition/entries/*.json,
// embedded in the binary), a user's notes, and the Analyst's insights, all
// searched with SQLite FTS5 and ranked by BM25.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "util/result.h"

namespace SQLite {
class Database;
}

namespace asiarch::cognition {

struct Entry {
  std::string id;
  std::string title;
  int year = 0;
  std::string topic;
  std::string key_idea;
  std::string mechanism;
  std::string strengths;
  std::string weaknesses;
  std::string when_it_helps;
  std::string build_with_ops;
  std::string source;  // "built-in", "note <file>", "insight #<experiment>"
};

// One entry from its JSON text; an error names `where` and the missing or mistyped field.
Result<Entry> parse_entry(const std::string& json_text, const std::string& where);

// The entries shipped in the binary, in file order; an error names the file that is broken.
Result<std::vector<Entry>> builtin_entries();

// A user's notes: every *.json in `dir` (none when it does not exist).
Result<std::vector<Entry>> load_notes(const std::filesystem::path& dir);

struct Hit {
  Entry entry;
  double score = 0;  // BM25 as FTS5 gives it: lower is better
};

// An in-memory FTS5 index over entries. Titles and key ideas weigh more than the rest.
class Index {
 public:
  static Result<Index> build(const std::vector<Entry>& entries);
  Index(Index&&) noexcept;
  Index& operator=(Index&&) noexcept;
  ~Index();
  // The best `k` entries for a free-text query (words are matched with their stems, any of them);
  // an empty query or one with no word gives none.
  std::vector<Hit> search(const std::string& query, int k) const;
  std::size_t size() const { return entries_.size(); }

 private:
  Index();
  std::unique_ptr<SQLite::Database> db_;
  std::vector<Entry> entries_;
};

// One line per field, for people.
std::string format_entry(const Entry& e);

}  // namespace asiarch::cognition
