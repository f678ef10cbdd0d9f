// How alike two sources are, as a reader would judge a copy: the Jaccard
// similarity of their token 3-shingles after comments and whitespace are
// dropped, so formatting and comments change nothing. 1 = the same tokens.
#pragma once

#include <string>

namespace asiarch {

double source_similarity(const std::string& a, const std::string& b);

// The same, blind to renaming: the file's own names (classes, members, locals)
// are replaced by their order of first appearance, while names it reaches
// through `::` or `.` (the library's functions, torch's, the config's fields)
// and C++ keywords are kept. A copy with other identifiers scores 1.
double renamed_similarity(const std::string& a, const std::string& b);

// Source with comments and whitespace removed (string literals kept), hashed: the same code written
// twice has one hash. Novelty's exact-copy check, whoever proposed the source.
std::string normalised_source_hash(const std::string& source);

}  // namespace asiarch
