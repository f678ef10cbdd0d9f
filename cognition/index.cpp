#include <cctype>

#include <SQLiteCpp/SQLiteCpp.h>

#include "cognition/cognition.h"

namespace asiarch::cognition {
namespace {

// Lower-case words of letters and digits: what a query may hold, each quoted for FTS5 so no
// character of the user's text is read as query syntax.
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  return out;
}

}  // namespace

Index::Index() = default;
Index::Index(Index&&) noexcept = default;
Index& Index::operator=(Index&&) noexcept = default;
Index::~Index() = default;

Result<Index> Index::build(const std::vector<Entry>& entries) {
  Index ix;
  try {
    ix.db_ = std::make_unique<SQLite::Database>(":memory:", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    ix.db_->exec("CREATE VIRTUAL TABLE entries USING fts5(title, key_idea, body, tokenize = 'porter unicode61')");
    SQLite::Transaction tx(*ix.db_);
    SQLite::Statement insert(*ix.db_, "INSERT INTO entries(rowid, title, key_idea, body) VALUES (?, ?, ?, ?)");
    for (const auto& e : entries) {
      insert.bind(1, static_cast<int64_t>(ix.entries_.size()));
      insert.bind(2, e.title + " " + e.id + " " + e.topic);
      insert.bind(3, e.key_idea);
      insert.bind(4, e.mechanism + "\n" + e.strengths + "\n" + e.weaknesses + "\n" + e.when_it_helps + "\n" +
                         e.build_with_ops);
      insert.exec();
      insert.reset();
      ix.entries_.push_back(e);
    }
    tx.commit();
  } catch (const std::exception& e) {
    return make_error(std::string("cognition index (SQLite FTS5): ") + e.what());
  }
  return ix;
}

std::vector<Hit> Index::search(const std::string& query, int k) const {
  std::vector<Hit> out;
  const auto ws = words(query);
  if (ws.empty() || k <= 0) return out;
  std::string match;
  for (const auto& w : ws) match += (match.empty() ? "\"" : " OR \"") + w + "\"";
  SQLite::Statement q(*db_,
                      "SELECT rowid, bm25(entries, 8.0, 3.0, 1.0) AS s FROM entries WHERE entries MATCH ? "
                      "ORDER BY s LIMIT ?");
  q.bind(1, match);
  q.bind(2, k);
  while (q.executeStep())
    out.push_back({entries_[static_cast<std::size_t>(q.getColumn(0).getInt64())], q.getColumn(1).getDouble()});
  return out;
}

}  // namespace asiarch::cognition
