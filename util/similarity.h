// How alike two sources are, as a reader would judge a copy: the Jaccard
// similarity of their token 3-shingles after comments and whitespace are
// dropped, so formatting and comments change nothing. 1 = the same tokens.
#pragma once

#include <string>

namespace asiarch {

double source_similarity(const std::string& a, const std::string& b);

}  // namespace asiarch
